//! Choosing which retrieved chunks reach the prompt: near-duplicates dropped, maximal marginal
//! relevance for diversity, and adjacent chunks of one document merged into one passage.

use cairn_core::Chunk;

/// Cosine of two L2-normalised vectors.
fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Maximal marginal relevance (Carbonell & Goldstein): repeatedly pick the candidate that
/// maximises `lambda * sim(query, d) - (1 - lambda) * max sim(d, picked)`. Vectors are
/// L2-normalised; returns indices into `candidates`, in pick order. `lambda = 1` is plain
/// relevance order, `0` pure diversity.
pub fn mmr(query: &[f32], candidates: &[&[f32]], k: usize, lambda: f32) -> Vec<usize> {
    let rel: Vec<f32> = candidates.iter().map(|v| cos(query, v)).collect();
    mmr_with(&rel, candidates, k, lambda)
}

/// MMR with relevance given per candidate (e.g. min-max-normalised fused scores, so hybrid
/// retrieval keeps its own notion of relevance instead of falling back to dense cosine).
pub fn mmr_with(rel: &[f32], candidates: &[&[f32]], k: usize, lambda: f32) -> Vec<usize> {
    let mut picked: Vec<usize> = Vec::new();
    let mut max_sim = vec![f32::NEG_INFINITY; candidates.len()];
    while picked.len() < k.min(candidates.len()) {
        let mut best = None;
        let mut best_score = f32::NEG_INFINITY;
        for i in 0..candidates.len() {
            if picked.contains(&i) {
                continue;
            }
            let redundancy = if picked.is_empty() { 0.0 } else { max_sim[i] };
            let s = lambda * rel[i] - (1.0 - lambda) * redundancy;
            if s > best_score {
                best_score = s;
                best = Some(i);
            }
        }
        let Some(b) = best else { break };
        picked.push(b);
        for i in 0..candidates.len() {
            max_sim[i] = max_sim[i].max(cos(candidates[i], candidates[b]));
        }
    }
    picked
}

/// MMR over scored candidates, relevance being their own scores (fused for hybrid, a
/// reranker's after reranking) scaled to [0, 1]: `take` indices in pick order. `cairn ask`
/// picks its passages with it and `eval beir --mmr` reorders its head with it.
pub fn mmr_order(scores: &[f32], vectors: &[&[f32]], take: usize, lambda: f32) -> Vec<usize> {
    mmr_with(&min_max(scores), vectors, take, lambda)
}

/// The items `order` names (indices, best first), then the rest in their old order: how a
/// reranker's or MMR's order over the head of a list is applied to the whole list.
pub fn reorder_head<T: Clone>(items: &[T], order: &[usize]) -> Vec<T> {
    let mut named = vec![false; items.len()];
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for &i in order {
        if i < items.len() && !named[i] {
            named[i] = true;
            out.push(items[i].clone());
        }
    }
    out.extend(
        items
            .iter()
            .zip(&named)
            .filter(|(_, n)| !**n)
            .map(|(x, _)| x.clone()),
    );
    out
}

/// Scores scaled to [0, 1] (all 1 when they are equal).
pub fn min_max(scores: &[f32]) -> Vec<f32> {
    let lo = scores.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    scores
        .iter()
        .map(|s| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 })
        .collect()
}

/// Indices of the candidates to keep, in order, dropping any whose vector is at least
/// `threshold` similar to an earlier kept one or whose text is the same after whitespace
/// normalisation (the same paragraph in two files, a chunk overlap that swallowed a chunk).
pub fn dedup(texts: &[&str], vectors: &[&[f32]], threshold: f32) -> Vec<usize> {
    let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut kept: Vec<usize> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..texts.len() {
        if !seen.insert(norm(texts[i])) {
            continue;
        }
        if kept
            .iter()
            .any(|&j| cos(vectors[i], vectors[j]) >= threshold)
        {
            continue;
        }
        kept.push(i);
    }
    kept
}

/// A contiguous span of one document made of one or more chunks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Passage {
    pub doc_id: String,
    pub source: String,
    pub title: Option<String>,
    pub heading_path: Vec<String>,
    /// Byte span in the document's text.
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub chunk_ids: Vec<String>,
    /// The best (lowest) retrieval rank among its chunks, 1-based.
    pub rank: usize,
    pub score: f32,
    /// A page number, when the loader recorded one.
    pub page: Option<u64>,
}

impl Passage {
    pub fn from_chunk(
        c: &Chunk,
        source: &str,
        title: Option<&str>,
        rank: usize,
        score: f32,
    ) -> Self {
        Passage {
            doc_id: c.doc_id.clone(),
            source: source.to_string(),
            title: title.map(str::to_string),
            heading_path: c.heading_path.clone(),
            start: c.start,
            end: c.end,
            text: c.text.clone(),
            chunk_ids: vec![c.id.clone()],
            rank,
            score,
            page: c.metadata.get("page").and_then(|p| p.as_u64()),
        }
    }
}

/// Merges passages of the same document whose spans touch or overlap (chunks cut with
/// overlap come back as neighbours), keeping the better rank; the result is ordered by rank.
pub fn merge_adjacent(mut passages: Vec<Passage>) -> Vec<Passage> {
    passages.sort_by(|a, b| (a.doc_id.as_str(), a.start).cmp(&(b.doc_id.as_str(), b.start)));
    let mut out: Vec<Passage> = Vec::new();
    for p in passages {
        if let Some(last) = out.last_mut() {
            if last.doc_id == p.doc_id && p.start <= last.end && p.page == last.page {
                if p.end > last.end {
                    // Append only the part of `p` past `last`'s end (chunks overlap).
                    let skip = last.end - p.start;
                    if let Some(tail) = p.text.get(skip..) {
                        last.text.push_str(tail);
                        last.end = p.end;
                    }
                }
                for id in p.chunk_ids {
                    if !last.chunk_ids.contains(&id) {
                        last.chunk_ids.push(id);
                    }
                }
                if p.rank < last.rank {
                    last.rank = p.rank;
                    last.score = p.score;
                }
                continue;
            }
        }
        out.push(p);
    }
    out.sort_by_key(|p| p.rank);
    out
}

/// Widens each passage to its whole section (every chunk of its document under the same
/// heading path, as `section` returns them), then merges what now overlaps. The small-to-big
/// pattern: match on a precise chunk, give the model the surrounding section.
pub fn expand_sections(
    passages: Vec<Passage>,
    section: &dyn Fn(&Passage) -> Vec<cairn_core::Chunk>,
) -> Vec<Passage> {
    let mut out = Vec::with_capacity(passages.len());
    for p in passages {
        let chunks = section(&p);
        if chunks.is_empty() {
            out.push(p);
            continue;
        }
        let mut pieces: Vec<(usize, usize, &str, Option<&str>)> = chunks
            .iter()
            .map(|c| (c.start, c.end, c.text.as_str(), Some(c.id.as_str())))
            .collect();
        pieces.push((p.start, p.end, p.text.as_str(), None));
        pieces.sort_by_key(|x| (x.0, std::cmp::Reverse(x.1)));
        let mut q = p.clone();
        q.start = pieces[0].0;
        q.end = pieces[0].0;
        q.text = String::new();
        for (start, end, text, id) in pieces {
            if start >= q.end {
                if !q.text.is_empty() {
                    // A gap between chunks is whitespace the chunker dropped.
                    q.text.push_str(if start > q.end { "\n\n" } else { "" });
                }
                q.text.push_str(text);
                q.end = end;
            } else if end > q.end {
                if let Some(tail) = text.get(q.end - start..) {
                    q.text.push_str(tail);
                    q.end = end;
                }
            }
            if let Some(id) = id {
                if !q.chunk_ids.iter().any(|c| c == id) {
                    q.chunk_ids.push(id.to_string());
                }
            }
        }
        out.push(q);
    }
    merge_adjacent(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_widen_passages_and_merge_what_overlaps() {
        let chunk = |id: &str, start: usize, text: &str| cairn_core::Chunk {
            id: id.into(),
            doc_id: "d".into(),
            ordinal: 0,
            text: text.into(),
            start,
            end: start + text.len(),
            heading_path: vec!["H".into()],
            context: String::new(),
            metadata: Default::default(),
        };
        // Section text: "One two. Three four. Five six." with chunks overlapping by a word.
        let section = vec![
            chunk("d#0", 0, "One two."),
            chunk("d#1", 4, "two. Three four."),
            chunk("d#2", 21, "Five six."),
        ];
        let hit = Passage {
            doc_id: "d".into(),
            source: "d.md".into(),
            title: None,
            heading_path: vec!["H".into()],
            start: 4,
            end: 20,
            text: "two. Three four.".into(),
            chunk_ids: vec!["d#1".into()],
            rank: 2,
            score: 0.5,
            page: None,
        };
        let other = Passage {
            doc_id: "e".into(),
            start: 0,
            end: 3,
            text: "abc".into(),
            chunk_ids: vec!["e#0".into()],
            rank: 1,
            ..hit.clone()
        };
        let out = expand_sections(vec![hit.clone(), other.clone(), hit], &|p| {
            if p.doc_id == "d" {
                section.clone()
            } else {
                Vec::new()
            }
        });
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].text, "abc");
        assert_eq!(out[1].text, "One two. Three four.\n\nFive six.");
        assert_eq!((out[1].start, out[1].end), (0, 30));
        assert_eq!(out[1].chunk_ids, vec!["d#1", "d#0", "d#2"]);
        assert_eq!(out[1].rank, 2);
    }

    #[test]
    fn mmr_with_given_relevance() {
        let a = unit(&[1.0, 0.0]);
        let b = unit(&[0.99, 0.141]);
        let c = unit(&[0.0, 1.0]);
        let cands: Vec<&[f32]> = vec![&a, &b, &c];
        // Relevance 1, .9, .5: lambda .5 picks a, then c (.25 - 0) over b (.45 - .495).
        assert_eq!(mmr_with(&[1.0, 0.9, 0.5], &cands, 3, 0.5), vec![0, 2, 1]);
        assert_eq!(min_max(&[3.0, 1.0, 2.0]), vec![1.0, 0.0, 0.5]);
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn mmr_hand_computed() {
        // q = (1,0). a = (1,0): rel 1. b = (0.99, 0.141): rel .99, sim(a,b) .99.
        // c = (0.6, 0.8): rel .6, sim(a,c) .6.
        // lambda .5: first a (0.5). Then b: .5*.99 - .5*.99 = 0; c: .5*.6 - .5*.6 = 0 -> tie,
        // so take lambda .7: b: .693 - .297 = .396; c: .42 - .18 = .24 -> b.
        // lambda .3: b: .297 - .693 = -.396; c: .18 - .42 = -.24 -> c.
        let q = unit(&[1.0, 0.0]);
        let a = unit(&[1.0, 0.0]);
        let b = unit(&[0.99, 0.141]);
        let c = unit(&[0.6, 0.8]);
        let cands: Vec<&[f32]> = vec![&b, &c, &a];
        assert_eq!(mmr(&q, &cands, 3, 1.0), vec![2, 0, 1]);
        assert_eq!(mmr(&q, &cands, 2, 0.7), vec![2, 0]);
        assert_eq!(mmr(&q, &cands, 2, 0.3), vec![2, 1]);
        assert_eq!(mmr(&q, &cands, 10, 0.5).len(), 3);
    }

    #[test]
    fn dedup_by_text_and_vector() {
        let a = unit(&[1.0, 0.0]);
        let b = unit(&[1.0, 0.01]);
        let c = unit(&[0.0, 1.0]);
        let texts = ["alpha  beta", "alpha beta", "gamma", "delta"];
        let vecs: Vec<&[f32]> = vec![&a, &c, &b, &c];
        // 1 is the same text as 0; 2 is a near-duplicate vector of 0; 3 is new.
        assert_eq!(dedup(&texts, &vecs, 0.98), vec![0, 3]);
    }

    fn passage(doc: &str, start: usize, text: &str, rank: usize) -> Passage {
        Passage {
            doc_id: doc.into(),
            source: format!("{doc}.md"),
            title: None,
            heading_path: vec![],
            start,
            end: start + text.len(),
            text: text.into(),
            chunk_ids: vec![format!("{doc}#{start}")],
            rank,
            score: 1.0 / rank as f32,
            page: None,
        }
    }

    #[test]
    fn adjacent_and_overlapping_chunks_merge() {
        // doc text: "One two. Three four. Five six."
        let p = vec![
            passage("d", 9, "Three four. Five", 1),
            passage("d", 0, "One two. Three", 3),
            passage("e", 0, "Other.", 2),
            passage("d", 21, "Five six.", 4),
        ];
        let m = merge_adjacent(p);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].text, "One two. Three four. Five six.");
        assert_eq!((m[0].start, m[0].end, m[0].rank), (0, 30, 1));
        assert_eq!(m[0].chunk_ids.len(), 3);
        assert_eq!(m[1].doc_id, "e");
    }
}
