//! `/{user}/{index}/+simple/…`: the PyPI simple repository API.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{index_path, ApiError, AppState};
use crate::names::ProjectName;
use crate::simple::{self, Format, IndexEntry, ProjectPage, SimpleFile};

fn page(format: Format, body: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    resp
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

pub async fn index_redirect(
    Path((user, index)): Path<(String, String)>,
) -> Result<Redirect, ApiError> {
    let path = index_path(&user, &index)?;
    Ok(Redirect::permanent(&format!("/{path}/+simple/")))
}

pub async fn index_page(
    State(st): State<AppState>,
    Path((user, index)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = index_path(&user, &index)?;
    let format = simple::negotiate(accept(&headers))?;
    let projects = st.registry.visible_projects(&path).await?;
    let entries: Vec<IndexEntry<'_>> = projects
        .iter()
        .map(|p| IndexEntry { name: &p.name })
        .collect();
    Ok(page(format, simple::render_index(&entries, format)))
}

pub async fn project_redirect(
    Path((user, index, project)): Path<(String, String, String)>,
) -> Result<Redirect, ApiError> {
    let path = index_path(&user, &index)?;
    let name = ProjectName::new(&project).map_err(|e| ApiError::not_found(e.to_string()))?;
    Ok(Redirect::permanent(&format!("/{path}/+simple/{name}/")))
}

pub async fn project_page(
    State(st): State<AppState>,
    Path((user, index, project)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let path = index_path(&user, &index)?;
    let name = ProjectName::new(&project).map_err(|e| ApiError::not_found(e.to_string()))?;
    if name.as_str() != project {
        return Ok(Redirect::permanent(&format!("/{path}/+simple/{name}/")).into_response());
    }
    let format = simple::negotiate(accept(&headers))?;
    let proj = st
        .registry
        .project(&path, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("project {name} is not on index {path}")))?;
    let files: Vec<SimpleFile> = proj
        .files
        .iter()
        .map(|rf| SimpleFile {
            filename: rf.file.filename.clone(),
            url: format!(
                "../../../..{}",
                super::files::file_path(&rf.index, &rf.file)
            ),
            sha256: rf.file.sha256,
            requires_python: rf.file.requires_python.clone(),
            yanked: rf.file.yanked.clone(),
            size: rf.file.size,
            upload_time: rf.file.created,
            // PEP 658 metadata is only promised for wheels: an sdist's PKG-INFO
            // may not match what building it produces.
            core_metadata: rf.file.metadata_sha256.filter(|_| rf.file.kind == "wheel"),
        })
        .collect();
    let versions = super::projects::sorted_versions(proj.releases.keys().cloned());
    Ok(page(
        format,
        simple::render_project(
            &ProjectPage {
                name: name.as_str(),
                files: &files,
                versions: &versions,
            },
            format,
        ),
    ))
}
