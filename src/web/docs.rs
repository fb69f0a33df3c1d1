//! Documentation in the site chrome: the page of the UI around a sandboxed
//! frame that shows the uploaded page from `+d/` (served with
//! `Content-Security-Policy: sandbox`, so a doc zip's script runs, if at
//! all, in an opaque origin: no cookies, no same-origin API calls).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use maud::html;

use super::layout::{self, Crumb};
use super::{PageError, PageResult, Viewer};
use crate::names::{IndexPath, ProjectName};
use crate::server::AppState;

pub async fn root_redirect() -> Redirect {
    Redirect::permanent("+doc/")
}

pub async fn chrome_root(
    st: State<AppState>,
    viewer: Viewer,
    Path((user, index, project, version)): Path<(String, String, String, String)>,
) -> PageResult {
    chrome_page(st, viewer, user, index, project, version, String::new()).await
}

pub async fn chrome(
    st: State<AppState>,
    viewer: Viewer,
    Path((user, index, project, version, page)): Path<(String, String, String, String, String)>,
) -> PageResult {
    chrome_page(st, viewer, user, index, project, version, page).await
}

async fn chrome_page(
    State(st): State<AppState>,
    viewer: Viewer,
    user: String,
    index: String,
    project: String,
    version: String,
    page: String,
) -> PageResult {
    let path = IndexPath::parse(&format!("{user}/{index}"))
        .map_err(|_| PageError::not_found(format!("there is no index {user}/{index}")))?;
    let name = ProjectName::new(&project).map_err(|e| PageError::not_found(e.to_string()))?;
    // Ask for the page now so that a missing one is a 404 of the chrome too.
    let (_, found) = st
        .registry
        .doc_page(&path, &name, &version, &page)
        .await
        .map_err(|e| PageError::from(e).with_viewer(&viewer))?;
    match found {
        crate::dist::doczip::DocLookup::Missing => {
            return Err(PageError::not_found(format!(
                "no page {page:?} in the documentation of {name} {version} on {path}"
            ))
            .with_viewer(&viewer))
        }
        crate::dist::doczip::DocLookup::Directory => {
            let last = page.rsplit('/').next().unwrap_or_default();
            return Ok(Redirect::permanent(&format!("{last}/")).into_response());
        }
        crate::dist::doczip::DocLookup::File { .. } => {}
    }
    let raw = format!("/{path}/{name}/{version}/+d/{page}");
    let body = html! {
        h1 { "Documentation of " (name) " " (version) }
        p.hint { "Shown as uploaded, in a sandboxed frame: its scripts cannot act on this site. "
            a href=(raw) { "open the page alone" } }
        iframe.docs src=(raw) title={ "Documentation of " (name) " " (version) }
            sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer" {}
    };
    Ok(layout::page(
        &viewer,
        &format!("{name} {version} docs"),
        &[
            Crumb::new("Indexes", "/"),
            Crumb::new(path.to_string(), format!("/{path}")),
            Crumb::new(name.to_string(), format!("/{path}/{name}")),
            Crumb::new(version.clone(), format!("/{path}/{name}/{version}")),
        ],
        body,
    ))
}
