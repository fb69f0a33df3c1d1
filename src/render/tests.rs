use super::*;

fn md(s: &str) -> String {
    render_description(s, Some("text/markdown")).html
}

fn rst(s: &str) -> String {
    render_description(s, Some("text/x-rst")).html
}

/// Nothing in `html` that runs script or loads active content.
fn assert_inert(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "<iframe",
        "<form",
        "<svg",
        "<style",
        "<object",
        "<embed",
        "<math",
        "javascript:",
        "data:",
        "vbscript:",
        " on",
        "style=",
        "<textarea",
        "<button",
        "<meta",
        "<link",
        "<base",
    ] {
        assert!(!lower.contains(bad), "{bad:?} survived in {html}");
    }
}

#[test]
fn script_elements_go_with_their_content() {
    let html = md("Hello <script>alert(1)</script> world\n\n<SCRIPT src=\"https://evil.example/x.js\"></SCRIPT>");
    assert_inert(&html);
    assert!(!html.contains("alert(1)"), "{html}");
    assert!(html.contains("Hello"), "{html}");
    assert!(html.contains("world"), "{html}");
}

#[test]
fn rst_shows_raw_html_as_text() {
    // reStructuredText has no raw HTML: it is text, escaped
    let html = rst("Hello <script>alert(1)</script> world\n");
    assert_eq!(
        html,
        "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt; world</p>"
    );
}

#[test]
fn event_handlers_are_dropped_and_the_element_text_kept() {
    let html = md("<p onclick=\"steal()\" onmouseover=\"x()\">click me</p>\n\n<img src=\"https://e.org/a.png\" onerror=\"steal()\">");
    assert_inert(&html);
    assert!(!html.contains("steal"), "{html}");
    assert!(html.contains("click me"), "{html}");
    // every image has an alt for assistive technology (empty: decorative)
    assert!(html.contains("<img alt=\"\">"), "{html}");
}

#[test]
fn javascript_and_data_links_lose_their_target() {
    let html = md(
        "[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html;base64,PHNjcmlwdD4=) \
         <a href=\"  javascript:alert(1)\">d</a> <a href=\"java&#x09;script:alert(1)\">e</a> \
         ![i](data:image/svg+xml;base64,PHN2Zz4=) [ok](https://example.org/x) [m](mailto:a@example.org)",
    );
    assert_inert(&html);
    for text in ["a", "b", "c", "d", "e"] {
        assert!(
            html.contains(&format!("<a rel=\"nofollow\">{text}</a>")),
            "{text}: {html}"
        );
    }
    assert!(
        html.contains("<a href=\"https://example.org/x\" rel=\"nofollow\">ok</a>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"mailto:a@example.org\" rel=\"nofollow\">m</a>"),
        "{html}"
    );
    assert!(html.contains("<img alt=\"i\">"), "{html}");

    let html = rst("`x <javascript:alert(1)>`_ and `y <https://example.org/>`_\n");
    assert_inert(&html);
    assert!(html.contains("<a rel=\"nofollow\">x</a>"), "{html}");
    assert!(
        html.contains("<a href=\"https://example.org/\" rel=\"nofollow\">y</a>"),
        "{html}"
    );
}

#[test]
fn images_load_only_from_the_web() {
    let html = md(
        "![a](mailto:x@example.org) ![b](ftp://example.org/x.png) ![c](http://example.org/c.png)",
    );
    assert!(html.contains("<img alt=\"a\">"), "{html}");
    assert!(html.contains("<img alt=\"b\">"), "{html}");
    // not even web images are loaded (tracking pixels): the alt stays
    assert!(html.contains("<img alt=\"c\">"), "{html}");
    assert!(!html.contains("src="), "{html}");
}

#[test]
fn svg_with_script_iframe_and_forms_are_removed() {
    let html = md(
        "<svg onload=\"alert(1)\"><script>alert(2)</script><circle r=\"5\"/></svg>\n\n\
         <iframe src=\"https://evil.example/\">inside frame</iframe>\n\n\
         <form action=\"https://evil.example/\"><input type=\"password\" name=\"pw\"><button>Log in</button></form>\n\n\
         <object data=\"x.swf\"></object><embed src=\"x.swf\"><math><mtext>m</mtext></math>\n\nafter",
    );
    assert_inert(&html);
    assert!(!html.contains("alert"), "{html}");
    assert!(!html.contains("inside frame"), "{html}");
    assert!(!html.contains("password"), "{html}");
    // a stray input (not a task list's checkbox) is removed
    assert!(!html.contains("<input"), "{html}");
    assert!(html.contains("<p>after</p>"), "{html}");
}

#[test]
fn css_tricks_are_removed() {
    let html = md(
        "<style>body{display:none}</style>\n\n<div style=\"position:fixed;top:0;left:0;width:100%\" class=\"navbar login\">fake login</div>\n\n<link rel=\"stylesheet\" href=\"https://evil.example/x.css\">",
    );
    assert_inert(&html);
    assert!(!html.contains("display:none"), "{html}");
    assert!(!html.contains("class="), "{html}");
    assert!(html.contains("<div>fake login</div>"), "{html}");
}

#[test]
fn ids_cannot_clobber_the_page() {
    let html = md("<h2 id=\"login\">x</h2>\n\n<a id=\"csrf\" name=\"csrf\" href=\"#login\">y</a>\n\n## Install\n\n[go](#install)");
    assert!(
        html.contains("<h2 id=\"user-content-login\">x</h2>"),
        "{html}"
    );
    assert!(
        html.contains(
            "<a id=\"user-content-csrf\" href=\"#user-content-login\" rel=\"nofollow\">y</a>"
        ),
        "{html}"
    );
    assert!(!html.contains("name="), "{html}");
    assert!(html.contains("id=\"user-content-install\""), "{html}");
    assert!(html.contains("href=\"#user-content-install\""), "{html}");
    assert!(!html.contains("id=\"install\""), "{html}");
}

#[test]
fn relative_links_are_dropped() {
    // a path relative to the page would lead into the server's own URLs
    let html = md("[a](/+login) [b](../other/) ![c](x.png)");
    assert!(html.contains("<a rel=\"nofollow\">a</a>"), "{html}");
    assert!(html.contains("<a rel=\"nofollow\">b</a>"), "{html}");
    assert!(html.contains("<img alt=\"c\">"), "{html}");
}

#[test]
fn bidi_controls_are_made_visible() {
    for (ct, src) in [
        (
            Some("text/markdown"),
            "access \u{202E}level\u{202C} x \u{2066}y\u{2069}",
        ),
        (
            Some("text/x-rst"),
            "access \u{202E}level\u{202C} x \u{2066}y\u{2069}",
        ),
        (
            Some("text/plain"),
            "access \u{202E}level\u{202C} x \u{2066}y\u{2069}",
        ),
    ] {
        let html = render_description(src, ct).html;
        assert!(!html.chars().any(is_bidi_control), "{ct:?}: {html:?}");
        assert!(
            html.contains("access [U+202E]level[U+202C] x [U+2066]y[U+2069]"),
            "{ct:?}: {html}"
        );
    }
    // the marks for ordinary right-to-left text stay
    let html = md("שלום \u{200F}world");
    assert!(html.contains('\u{200F}'), "{html}");
}

#[test]
fn markdown_tables_fenced_code_and_task_lists() {
    let r = render_description(
        "| a | b |\n|---|:-:|\n| 1 | 2 |\n\n```python\nprint('<hi>')\n```\n\n- [x] done\n- [ ] todo\n\n~~gone~~ https://example.org/auto",
        Some("text/markdown; charset=UTF-8; variant=GFM"),
    );
    assert_eq!(r.kind, Kind::Markdown);
    assert_eq!(r.renderer, RENDERER);
    let h = r.html;
    assert!(h.contains("<table>"), "{h}");
    assert!(h.contains("<th>a</th>"), "{h}");
    assert!(h.contains("<td align=\"center\">2</td>"), "{h}");
    assert!(
        h.contains("<pre><code>print('&lt;hi&gt;')\n</code></pre>"),
        "{h}"
    );
    assert!(
        h.contains("<li><input type=\"checkbox\" checked=\"\" disabled=\"\" aria-hidden=\"true\"> done</li>"),
        "{h}"
    );
    assert!(
        h.contains("<input type=\"checkbox\" disabled=\"\" aria-hidden=\"true\"> todo"),
        "{h}"
    );
    assert!(h.contains("<del>gone</del>"), "{h}");
    assert!(
        h.contains(
            "<a href=\"https://example.org/auto\" rel=\"nofollow\">https://example.org/auto</a>"
        ),
        "{h}"
    );
}

#[test]
fn commonmark_variant_has_no_gfm_extensions() {
    let h = render_description(
        "~~x~~ | a |\n|---|\n",
        Some("text/markdown; variant=CommonMark"),
    )
    .html;
    assert!(!h.contains("<del>"), "{h}");
    assert!(!h.contains("<table>"), "{h}");
}

#[test]
fn content_types() {
    assert_eq!(render_description("x", None).kind, Kind::Rst);
    assert_eq!(render_description("x", Some("")).kind, Kind::Rst);
    assert_eq!(
        render_description("x", Some("TEXT/X-RST; charset=utf-8")).kind,
        Kind::Rst
    );
    assert_eq!(
        render_description("x", Some("Text/Markdown")).kind,
        Kind::Markdown
    );
    assert_eq!(
        render_description("x", Some("text/plain")).kind,
        Kind::Plain
    );
    // unknown types are never interpreted
    let r = render_description("<b>x</b>", Some("text/html"));
    assert_eq!(r.kind, Kind::Plain);
    assert_eq!(r.html, "<pre>&lt;b&gt;x&lt;/b&gt;</pre>");
}

#[test]
fn plain_text_is_escaped_and_preformatted() {
    let r = render_description(
        "a < b && c > d\n  <script>x</script> \"q\"",
        Some("text/plain"),
    );
    assert_eq!(r.kind, Kind::Plain);
    assert_eq!(
        r.html,
        "<pre>a &lt; b &amp;&amp; c &gt; d\n  &lt;script&gt;x&lt;/script&gt; \"q\"</pre>"
    );
}

#[test]
fn rst_titles_paragraphs_and_inline_markup() {
    let h = rst(
        "=====\nTitle\n=====\n\nSub\n---\n\nSome *em*, **strong**, ``code <x>``, `cite`, :code:`c()`,\n\
         a `link <https://example.org/a>`_, a `named`_ ref, see_ and http://example.org/b.\n\n\
         .. _named: https://example.org/n\n.. _see: https://example.org/s\n\nOther\n-----\n\nend\n",
    );
    assert!(
        h.starts_with(
            "<h1 id=\"user-content-title\">Title</h1><h2 id=\"user-content-sub\">Sub</h2>"
        ),
        "{h}"
    );
    assert!(h.contains("<em>em</em>"), "{h}");
    assert!(h.contains("<strong>strong</strong>"), "{h}");
    assert!(h.contains("<code>code &lt;x&gt;</code>"), "{h}");
    assert!(h.contains("<cite>cite</cite>"), "{h}");
    assert!(h.contains("<code>c()</code>"), "{h}");
    assert!(
        h.contains("<a href=\"https://example.org/a\" rel=\"nofollow\">link</a>"),
        "{h}"
    );
    assert!(
        h.contains("<a href=\"https://example.org/n\" rel=\"nofollow\">named</a> ref"),
        "{h}"
    );
    assert!(
        h.contains("ref, <a href=\"https://example.org/s\" rel=\"nofollow\">see</a> and"),
        "{h}"
    );
    assert!(
        h.contains("<a href=\"http://example.org/b\" rel=\"nofollow\">http://example.org/b</a>."),
        "{h}"
    );
    assert!(
        h.contains("<h2 id=\"user-content-other\">Other</h2><p>end</p>"),
        "{h}"
    );
}

#[test]
fn rst_lists_literal_blocks_and_code_directives() {
    let h = rst(
        "Items:\n\n- one\n- two\n\n  - nested\n\n1. first\n2. second\n\nExample::\n\n    x = <y>\n    if x:\n        pass\n\n\
         .. code-block:: python\n   :linenos:\n\n   print(\"hi\")\n\n.. code:: sh\n\n   ls\n\nAfter.\n",
    );
    assert!(
        h.contains("<p>Items:</p><ul><li>one</li><li><p>two</p><ul><li>nested</li></ul></li></ul>"),
        "{h}"
    );
    assert!(h.contains("<ol><li>first</li><li>second</li></ol>"), "{h}");
    assert!(
        h.contains("<p>Example:</p><pre>x = &lt;y&gt;\nif x:\n    pass</pre>"),
        "{h}"
    );
    assert!(
        // `lang` is not kept: a language name is not a valid HTML lang value
        h.contains("<pre><code>print(\"hi\")</code></pre>"),
        "{h}"
    );
    assert!(h.contains("<pre><code>ls</code></pre>"), "{h}");
    assert!(h.ends_with("<p>After.</p>"), "{h}");
}

#[test]
fn rst_badges_and_images() {
    let h = rst(
        "|build| |cov|\n\n.. |build| image:: https://ci.example.org/b.svg\n   :target: https://ci.example.org/\n   :alt: build\n\
         .. |cov| image:: javascript:alert(1)\n\n.. image:: https://example.org/logo.png\n   :alt: logo\n",
    );
    assert_inert(&h);
    assert!(h.starts_with("<p><a href=\"https://ci.example.org/\" rel=\"nofollow\"><img alt=\"build\"></a> <img alt=\"\"></p>"), "{h}");
    assert!(h.contains("<img alt=\"logo\">"), "{h}");
}

#[test]
fn rst_falls_back_to_preformatted_text_for_what_it_cannot_render() {
    let h = rst(
        "Intro.\n\n+-----+-----+\n| <a> | b   |\n+-----+-----+\n\n.. unknown-directive:: x\n   body <b>\n\n:field: value\n\nEnd.\n",
    );
    assert!(
        h.starts_with("<p>Intro.</p><pre>+-----+-----+\n| &lt;a&gt; | b   |\n+-----+-----+</pre>"),
        "{h}"
    );
    assert!(
        h.contains("<pre>.. unknown-directive:: x\n   body &lt;b&gt;</pre>"),
        "{h}"
    );
    assert!(h.contains("<pre>:field: value</pre>"), "{h}");
    assert!(h.ends_with("<p>End.</p>"), "{h}");
}

#[test]
fn rst_comments_contents_and_raw_are_not_shown() {
    let h = rst(".. a comment\n   more comment\n\n.. contents::\n\n.. raw:: html\n\n   <script>alert(1)</script>\n\nText.\n");
    assert_eq!(h, "<p>Text.</p>");
}

#[test]
fn rst_deep_nesting_is_bounded() {
    let src = "- ".repeat(5000) + "x\n";
    let h = rst(&src);
    assert!(h.contains("<pre>"), "deep nesting falls back");
    assert!(h.len() < src.len() * 40);
    let quotes: String = (0..200).map(|i| " ".repeat(i) + "q\n\n").collect();
    let h = rst(&quotes);
    assert!(h.contains("<blockquote>"));
}

#[test]
fn rst_unmatched_markup_stays_text_in_linear_time() {
    let src = "*a `b ``c |d ".repeat(40_000);
    let t = std::time::Instant::now();
    let h = rst(&src);
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(h.starts_with("<p>*a `b ``c |d *a"), "{}", &h[..40]);
}

#[test]
fn oversized_sources_are_cut_and_say_so() {
    let big = "word ".repeat(MAX_SOURCE_BYTES / 5 + 10) + "TAILMARK";
    let h = render_description(&big, Some("text/plain")).html;
    assert!(!h.contains("TAILMARK"));
    assert!(
        h.ends_with("<p><em>(description cut at 512 KiB)</em></p>"),
        "{}",
        &h[h.len() - 80..]
    );
    let e = "é".repeat(MAX_SOURCE_BYTES);
    let (cut, was) = capped(&e);
    assert!(was && cut.len() <= MAX_SOURCE_BYTES && cut.chars().all(|c| c == 'é'));
}

#[test]
fn rst_definition_lists_and_admonitions() {
    let h = rst("Term\n   Definition *x*.\n\n.. note:: Be careful.\n\n   More.\n");
    assert_eq!(
        h,
        "<dl><dt>Term</dt><dd><p>Definition <em>x</em>.</p></dd></dl>\
         <div><p><strong>Note</strong></p><p>Be careful.</p><p>More.</p></div>"
    );
}

#[test]
fn rendering_is_deterministic() {
    let src = "- [x] a\n\n<input type=checkbox checked name=n value=v>\n\n[l](https://e.org)";
    let first = md(src);
    for _ in 0..20 {
        assert_eq!(md(src), first);
    }
}
