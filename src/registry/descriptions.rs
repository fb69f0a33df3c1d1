//! Release descriptions for pages: rendered when a release is stored
//! (upload, or a push from a mirror), carried verbatim by pushes between
//! stages, rendered again on read when the renderer has changed since.

use std::sync::Arc;

use super::{Registry, RegistryError, Result};
use crate::names::{IndexPath, ProjectName};
use crate::render::{self, Kind};
use crate::store::descriptions::{self, DescriptionRow};
use crate::store::StoreError;

/// A release's description as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDescription {
    /// Sanitised HTML, safe to place in a page as it is.
    pub html: String,
    pub kind: Kind,
    /// The renderer version that produced `html` (`render::RENDERER`).
    pub renderer: String,
    /// When it was rendered (seconds since the epoch).
    pub rendered_at: i64,
}

/// The row to store for a release whose core metadata has `source` as its
/// description: the source cut at `render::MAX_SOURCE_BYTES`, rendered now.
/// CPU work: call it off the async runtime for large input.
pub(crate) fn prepare(source: &str, content_type: Option<&str>) -> DescriptionRow {
    let (source, cut) = render::capped(source);
    rendered(source, content_type, cut)
}

/// The row for a (stored) source, rendered by the current renderer.
fn rendered(source: &str, content_type: Option<&str>, truncated: bool) -> DescriptionRow {
    let r = render::render_capped(source, content_type, truncated);
    DescriptionRow {
        key: descriptions::key_of(source, content_type),
        source: source.to_string(),
        content_type: content_type.map(str::to_string),
        truncated,
        html: r.html,
        kind: r.kind.as_str().to_string(),
        renderer: r.renderer.to_string(),
        rendered_at: crate::store::now(),
    }
}

/// [`prepare`] for the description in core metadata, if there is one.
pub(crate) fn of_metadata(m: &crate::dist::CoreMetadata) -> Option<DescriptionRow> {
    m.description
        .as_deref()
        .map(|d| prepare(d, m.description_content_type.as_deref()))
}

fn blocking_failed(e: tokio::task::JoinError) -> RegistryError {
    RegistryError::Store(StoreError::Internal(format!("background task failed: {e}")))
}

impl Registry {
    /// The description of release `version` of `project` held by `index`
    /// itself (no inheritance: a page resolves that and asks the index that
    /// holds the release). `None`: no such release, or it has no
    /// description (mirror releases never have one here).
    pub async fn release_description(
        self: &Arc<Self>,
        index: &IndexPath,
        project: &ProjectName,
        version: &str,
    ) -> Result<Option<RenderedDescription>> {
        let row = self.index(index)?;
        let (id, name, v) = (row.id, project.as_str().to_string(), version.to_string());
        let Some(stored) = self
            .store
            .db
            .read(move |c| descriptions::of_release(c, id, &name, &v))
            .await?
        else {
            return Ok(None);
        };
        if stored.renderer == render::RENDERER {
            return Ok(Some(shown(stored)));
        }
        // rendered by another version: render again and keep the result
        let fresh = tokio::task::spawn_blocking(move || {
            let mut fresh = rendered(
                &stored.source,
                stored.content_type.as_deref(),
                stored.truncated,
            );
            fresh.key = stored.key;
            (fresh, stored.renderer)
        })
        .await
        .map_err(blocking_failed)?;
        let (fresh, stale) = fresh;
        let row = fresh.clone();
        self.store
            .db
            .write(move |tx| {
                descriptions::replace_rendering(
                    tx,
                    &row.key,
                    &stale,
                    &row.html,
                    &row.kind,
                    &row.renderer,
                    row.rendered_at,
                )
            })
            .await?;
        Ok(Some(shown(fresh)))
    }
}

fn shown(row: DescriptionRow) -> RenderedDescription {
    RenderedDescription {
        kind: Kind::parse(&row.kind).unwrap_or(Kind::Plain),
        html: row.html,
        renderer: row.renderer,
        rendered_at: row.rendered_at,
    }
}
