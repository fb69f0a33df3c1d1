//! The page shell every page shares: header with navigation and search,
//! breadcrumbs, the main content, a footer. Semantic landmarks, a skip
//! link, and no inline script or style (the CSP forbids both).

use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::Viewer;

/// A link in the breadcrumb trail.
pub struct Crumb {
    pub label: String,
    pub href: String,
}

impl Crumb {
    pub fn new(label: impl Into<String>, href: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            href: href.into(),
        }
    }
}

/// A whole page: `title` in the tab and the header trail, `body` in `<main>`.
pub fn page(viewer: &Viewer, title: &str, crumbs: &[Crumb], body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · airlock" }
                link rel="stylesheet" href=(*assets::CSS_URL);
                script src=(*assets::JS_URL) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    nav.top aria-label="Main" {
                        a.brand href="/" { "airlock" }
                        ul {
                            li { a href="/" { "Indexes" } }
                            li { a href="/+pushes" { "Pushes" } }
                            li { a href="/+audit" { "Audit log" } }
                            li { a href="/+alerts" { "Alerts" } }
                            li { a href="/+typo/check" { "Typo check" } }
                            li { a href="/+status" { "Status" } }
                        }
                        form.search role="search" action="/+search" method="get" {
                            label.visually-hidden for="site-search" { "Search packages" }
                            input #site-search type="search" name="q" placeholder="Search packages" maxlength="200";
                            button type="submit" { "Search" }
                        }
                        div.who {
                            @if let Some(user) = viewer.user() {
                                span.user title=(viewer.how()) { (user) }
                                @if viewer.via_session() {
                                    form.inline action="/+web/logout" method="post" {
                                        input type="hidden" name="csrf" value=(viewer.csrf());
                                        button.link type="submit" { "Log out" }
                                    }
                                }
                            } @else {
                                a href="/+login" { "Log in" }
                            }
                        }
                    }
                }
                @if !crumbs.is_empty() {
                    nav.crumbs aria-label="Breadcrumb" {
                        ol {
                            @for c in crumbs {
                                li { a href=(c.href) { (c.label) } }
                            }
                            li aria-current="page" { (title) }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (body)
                }
                footer.site {
                    p {
                        "airlock " (env!("CARGO_PKG_VERSION"))
                        " · times are UTC · "
                        a href="/+api" { "API" }
                    }
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// A label/value table (metadata, settings).
pub fn facts<'a>(rows: impl IntoIterator<Item = (&'a str, Markup)>) -> Markup {
    html! {
        dl.facts {
            @for (k, v) in rows {
                dt { (k) }
                dd { (v) }
            }
        }
    }
}

/// A coloured word for a state: `passed`, `failed`, `pending`, `landed`…
pub fn badge(kind: &str, text: &str) -> Markup {
    html! { span class={ "badge badge-" (kind) } { (text) } }
}
