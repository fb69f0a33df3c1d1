//! Dependency names from the files projects declare them in.
pub fn names_in_file(_path: &std::path::Path) -> Result<Vec<String>, std::io::Error> {
    Ok(Vec::new())
}
