//! HTML to text. Ordinary pages go through html2text; pages nested deeper than
//! [`MAX_HTML_DEPTH`] elements (which no real page is, and which make the HTML tree builder
//! superlinear) are flattened by a linear tag stripper instead.

/// Element nesting beyond which a page is flattened rather than parsed as a tree.
pub const MAX_HTML_DEPTH: usize = 256;

/// Elements that never hold content, and elements whose end tag may be left out (a page of
/// unclosed `<p>`s or `<li>`s is shallow to a browser, so it must not count as deep).
const NOT_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "!doctype",
];

/// One tag found by the scanner: its lower-case name, whether it closes, and the byte after it.
struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    end: usize,
}

/// The tag opening at `html[start]` (a `<`), if it is one.
fn tag_at(html: &str, start: usize) -> Option<Tag> {
    let b = html.as_bytes();
    let mut i = start + 1;
    let closing = b.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'!' || b[i] == b'-') {
        i += 1;
    }
    if i == name_start {
        return None;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    // A tag left open runs to the end of the text (so nothing rescans it).
    let close = html[i..].find('>').map_or(b.len(), |c| i + c);
    Some(Tag {
        name,
        closing,
        self_closing: close < b.len() && b[close - 1] == b'/',
        end: (close + 1).min(b.len()),
    })
}

/// The deepest element nesting of the page, counted up to `limit + 1` (linear time).
pub fn nesting_depth(html: &str, limit: usize) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        let start = i + off;
        let Some(tag) = tag_at(html, start) else {
            i = start + 1;
            continue;
        };
        i = tag.end;
        if tag.name.starts_with("!--") || NOT_NESTING.contains(&tag.name.as_str()) {
            continue;
        }
        if tag.closing {
            depth = depth.saturating_sub(1);
        } else if !tag.self_closing {
            depth += 1;
            max = max.max(depth);
            if max > limit {
                return max;
            }
        }
    }
    max
}

/// Plain text of an HTML page and its `<title>`.
pub fn html_to_text(html: &str) -> (Option<String>, String) {
    let lower = html.to_ascii_lowercase();
    let title = lower.find("<title").and_then(|s| {
        let open_end = s + lower[s..].find('>')? + 1;
        let close = open_end + lower[open_end..].find("</title>")?;
        let t = html[open_end..close].trim();
        (!t.is_empty()).then(|| t.to_string())
    });
    let text = if nesting_depth(html, MAX_HTML_DEPTH) > MAX_HTML_DEPTH {
        flatten(html)
    } else {
        html2text::from_read(html.as_bytes(), 10_000).unwrap_or_default()
    };
    (title, text)
}

/// Elements that end a line of text.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dt",
    "dd",
    "hr",
    "header",
    "footer",
];

/// The text of a page without its tree: tags dropped, `<script>`, `<style>` and `<head>`
/// skipped, block elements ending lines, entities decoded, spaces collapsed. Linear time.
pub fn flatten(html: &str) -> String {
    let mut raw = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        let start = i + off;
        raw.push_str(&html[i..start]);
        if html[start..].starts_with("<!--") {
            i = html[start..]
                .find("-->")
                .map_or(html.len(), |e| start + e + 3);
            continue;
        }
        let Some(tag) = tag_at(html, start) else {
            raw.push('<');
            i = start + 1;
            continue;
        };
        i = tag.end;
        if !tag.closing && matches!(tag.name.as_str(), "script" | "style" | "head") {
            let close = format!("</{}", tag.name);
            i = lower[i..].find(&close).map_or(html.len(), |e| i + e);
            continue;
        }
        if BLOCKS.contains(&tag.name.as_str()) {
            raw.push('\n');
        } else {
            raw.push(' ');
        }
    }
    raw.push_str(&html[i..]);
    let text = crate::office::xml_unescape(&raw).replace("&nbsp;", " ");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_nesting_but_not_void_or_unclosed_paragraphs() {
        assert_eq!(
            nesting_depth("<html><body><div><b>x</b></div></body></html>", 100),
            4
        );
        let ps = "<p>a".repeat(10_000);
        assert_eq!(
            nesting_depth(&format!("<body>{ps}<br><img/></body>"), 100),
            1
        );
        let deep = "<div>".repeat(1000);
        assert_eq!(
            nesting_depth(&deep, 100),
            101,
            "stops counting past the limit"
        );
    }

    #[test]
    fn deep_pages_are_flattened_quickly_and_keep_their_text() {
        let n = 100_000;
        let html = format!(
            "<html><head><title>Deep</title><style>p{{}}</style></head><body>{}hello <b>deep</b> world{}</body></html>",
            "<div><span>".repeat(n),
            "</span></div>".repeat(n)
        );
        let t = std::time::Instant::now();
        let (title, text) = html_to_text(&html);
        assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
        assert_eq!(title.as_deref(), Some("Deep"));
        assert_eq!(text, "hello deep world");
    }

    #[test]
    fn flatten_skips_scripts_and_comments_and_breaks_blocks() {
        let t = flatten("<script>var x = '<p>';</script><h1>T</h1><!-- no --><p>a &lt; b</p>c");
        assert_eq!(t, "T\na < b\nc");
    }
}
