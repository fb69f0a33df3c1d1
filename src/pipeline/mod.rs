//! The staging pipeline's domain logic: what a push from one index into
//! another would change ([`review()`]), whether it may land under the target's
//! [`RequirePolicy`](crate::policy::RequirePolicy) ([`evaluate`]), and the
//! readable form a reviewer sees ([`render_text`]). No HTTP and no database
//! here: callers load the release rows and pass them in.

pub mod deps;
mod entry_points;
mod evaluate;
mod render;
pub mod review;

#[cfg(test)]
mod tests;

pub use entry_points::{parse_entry_points, EntryPoints};
pub use evaluate::{evaluate, Decision};
pub use render::render_text;
pub use review::{
    review, DependencyChange, DependencyChanges, EntryPoint, EntryPointChange, EntryPointChanges,
    FieldChange, FileSummary, LicenseInfo, ReleaseFile, ReleaseSnapshot, Review, ReviewedDocZip,
    ShadowingCheck, TestRun, TestsCheck, TyposquatCheck, ValueChange,
};
