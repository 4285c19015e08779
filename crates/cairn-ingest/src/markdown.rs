//! Markdown structure for chunking: sections under headings, and fenced code blocks that must
//! stay whole.

/// A heading line's level and text: `## Foo ##` → (2, "Foo").
pub fn heading(line: &str) -> Option<(usize, String)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None; // indented four spaces: a code block, not a heading
    }
    let level = t.bytes().take_while(|&b| b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &t[level..];
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim();
    Some((level, text.to_string()))
}

/// A contiguous piece of a markdown document.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub start: usize,
    pub end: usize,
    /// A fenced code block, which is never split unless it alone exceeds the model's limit.
    pub fenced: bool,
    pub heading_path: Vec<String>,
}

/// Splits markdown into blocks: prose runs and fenced code blocks, each tagged with the
/// headings that enclose it. Headings start new blocks, so no block spans two sections.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut cur_start = 0;
    let mut fence: Option<(u8, usize)> = None; // (char, run length)
    let mut pos = 0;
    let headings = |p: &Vec<(usize, String)>| p.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>();
    let push = |out: &mut Vec<Block>, start: usize, end: usize, fenced: bool, hp: Vec<String>| {
        if text[start..end].trim().is_empty() {
            return;
        }
        out.push(Block {
            start,
            end,
            fenced,
            heading_path: hp,
        });
    };
    for line in text.split_inclusive('\n') {
        let line_start = pos;
        pos += line.len();
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let fence_mark = (indent <= 3)
            .then(|| {
                let c = *t.as_bytes().first()?;
                if c != b'`' && c != b'~' {
                    return None;
                }
                let run = t.bytes().take_while(|&b| b == c).count();
                (run >= 3).then_some((c, run))
            })
            .flatten();
        match (fence, fence_mark) {
            (None, Some(mark)) => {
                push(&mut out, cur_start, line_start, false, headings(&path));
                cur_start = line_start;
                fence = Some(mark);
            }
            (Some((c, run)), Some((c2, run2)))
                if c == c2 && run2 >= run && t.trim().bytes().all(|b| b == c) =>
            {
                push(&mut out, cur_start, pos, true, headings(&path));
                cur_start = pos;
                fence = None;
            }
            (Some(_), _) => {}
            (None, None) => {
                if let Some((level, h)) = heading(line.trim_end_matches(['\n', '\r'])) {
                    push(&mut out, cur_start, line_start, false, headings(&path));
                    while path.last().is_some_and(|(l, _)| *l >= level) {
                        path.pop();
                    }
                    path.push((level, h));
                    cur_start = line_start;
                }
            }
        }
    }
    // An unclosed fence runs to the end of the document, as CommonMark says.
    push(
        &mut out,
        cur_start,
        text.len(),
        fence.is_some(),
        headings(&path),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings() {
        assert_eq!(heading("## Foo ##"), Some((2, "Foo".into())));
        assert_eq!(heading("#NoSpace"), None);
        assert_eq!(heading("    # code"), None);
        assert_eq!(heading("####### seven"), None);
    }

    #[test]
    fn blocks_track_heading_paths_and_fences() {
        let md =
            "# A\nintro\n## B\ntext\n```rust\n# not a heading\nfn x() {}\n```\nafter\n# C\nend\n";
        let b = blocks(md);
        let view: Vec<_> = b
            .iter()
            .map(|b| {
                (
                    md[b.start..b.end].to_string(),
                    b.fenced,
                    b.heading_path.join(" > "),
                )
            })
            .collect();
        assert_eq!(
            view,
            vec![
                ("# A\nintro\n".into(), false, "A".into()),
                ("## B\ntext\n".into(), false, "A > B".into()),
                (
                    "```rust\n# not a heading\nfn x() {}\n```\n".into(),
                    true,
                    "A > B".into()
                ),
                ("after\n".into(), false, "A > B".into()),
                ("# C\nend\n".into(), false, "C".into()),
            ]
        );
    }
}
