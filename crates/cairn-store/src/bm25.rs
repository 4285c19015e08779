//! An in-memory BM25 index (Lucene's variant, as bm25s computes it by default).
//!
//! Derived from the chunks in SQLite; rebuilt or reloaded at open. Postings are per term,
//! scored term-at-a-time into a dense accumulator, which at up to a few million chunks beats
//! anything cleverer for the short queries RAG sends.

use crate::codec::{Reader, Writer};
use crate::lexer::Lexer;
use crate::topk::top_k;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    pub k1: f32,
    pub b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.5, b: 0.75 }
    }
}

#[derive(Default)]
pub struct Bm25Index {
    params: Bm25Params,
    lexer: Lexer,
    terms: HashMap<String, u32>,
    /// Per term: (chunk position, term frequency).
    postings: Vec<Vec<(u32, u32)>>,
    doc_len: Vec<u32>,
    total_len: u64,
}

impl Bm25Index {
    pub fn new(params: Bm25Params) -> Self {
        Bm25Index {
            params,
            ..Default::default()
        }
    }

    /// Appends one text; its position is the number of texts added before it.
    pub fn add(&mut self, text: &str) {
        let pos = self.doc_len.len() as u32;
        let mut counts: HashMap<u32, u32> = HashMap::new();
        let mut len = 0u32;
        let terms = &mut self.terms;
        let postings = &mut self.postings;
        self.lexer.for_each_term(text, |t| {
            let next = terms.len() as u32;
            let id = *terms.entry(t.to_string()).or_insert_with(|| {
                postings.push(Vec::new());
                next
            });
            *counts.entry(id).or_insert(0) += 1;
            len += 1;
        });
        for (id, tf) in counts {
            self.postings[id as usize].push((pos, tf));
        }
        self.doc_len.push(len);
        self.total_len += len as u64;
    }

    pub fn len(&self) -> usize {
        self.doc_len.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc_len.is_empty()
    }

    /// Inverse document frequency, Lucene's form (never negative).
    fn idf(&self, df: usize) -> f32 {
        let n = self.doc_len.len() as f32;
        let df = df as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// The `k` best positions for `query`, best first. `allow` filters positions.
    pub fn search(
        &self,
        query: &str,
        k: usize,
        allow: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<(u32, f32)> {
        if self.doc_len.is_empty() {
            return Vec::new();
        }
        let avgdl = self.total_len as f32 / self.doc_len.len() as f32;
        let Bm25Params { k1, b } = self.params;
        let mut acc = vec![0f32; self.doc_len.len()];
        let mut touched: Vec<u32> = Vec::new();
        // A repeated query term counts once per occurrence, as in bm25s.
        for term in self.lexer.terms(query) {
            let Some(&id) = self.terms.get(&term) else {
                continue;
            };
            let list = &self.postings[id as usize];
            let idf = self.idf(list.len());
            for &(pos, tf) in list {
                let tf = tf as f32;
                let dl = self.doc_len[pos as usize] as f32;
                let s = idf * tf / (tf + k1 * (1.0 - b + b * dl / avgdl));
                let a = &mut acc[pos as usize];
                if *a == 0.0 {
                    touched.push(pos);
                }
                *a += s;
            }
        }
        let scored: Vec<(u32, f32)> = touched
            .into_iter()
            .filter(|&p| allow.is_none_or(|f| f(p)))
            .map(|p| (p, acc[p as usize]))
            .collect();
        top_k(scored, k)
    }

    /// Serialises the index compactly (for the derived-index file).
    pub fn write_to(&self, w: &mut Writer) {
        w.u32(self.params.k1.to_bits());
        w.u32(self.params.b.to_bits());
        w.u32(self.doc_len.len() as u32);
        for &l in &self.doc_len {
            w.u32(l);
        }
        let mut terms: Vec<(&String, &u32)> = self.terms.iter().collect();
        terms.sort_by_key(|(_, &id)| id);
        w.u32(terms.len() as u32);
        for (t, &id) in terms {
            w.bytes(t.as_bytes());
            let list = &self.postings[id as usize];
            w.u32(list.len() as u32);
            for &(p, tf) in list {
                w.u32(p);
                w.u32(tf);
            }
        }
    }

    /// Reads what `write_to` wrote; `None` on any inconsistency (the caller rebuilds).
    pub fn read_from(r: &mut Reader) -> Option<Self> {
        let params = Bm25Params {
            k1: f32::from_bits(r.u32()?),
            b: f32::from_bits(r.u32()?),
        };
        let n = r.u32()? as usize;
        let mut doc_len = Vec::with_capacity(n.min(r.remaining() / 4));
        for _ in 0..n {
            doc_len.push(r.u32()?);
        }
        let total_len = doc_len.iter().map(|&l| l as u64).sum();
        let nt = r.u32()? as usize;
        let mut terms = HashMap::with_capacity(nt.min(r.remaining() / 8));
        let mut postings = Vec::with_capacity(nt.min(r.remaining() / 8));
        for id in 0..nt {
            let t = std::str::from_utf8(r.bytes()?).ok()?.to_string();
            let len = r.u32()? as usize;
            let mut list = Vec::with_capacity(len.min(r.remaining() / 8));
            for _ in 0..len {
                let p = r.u32()?;
                let tf = r.u32()?;
                if p as usize >= n {
                    return None;
                }
                list.push((p, tf));
            }
            terms.insert(t, id as u32);
            postings.push(list);
        }
        Some(Bm25Index {
            params,
            lexer: Lexer::default(),
            terms,
            postings,
            doc_len,
            total_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(texts: &[&str]) -> Bm25Index {
        let mut i = Bm25Index::new(Bm25Params::default());
        for t in texts {
            i.add(t);
        }
        i
    }

    #[test]
    fn scores_match_a_hand_computation() {
        let i = index(&["cat dog", "cat cat fish bird", "bird"]);
        // "fish": df=1, N=3 -> idf = ln(1 + 2.5/1.5); doc 1 has tf=1, dl=4, avgdl=7/3.
        let idf = (1.0f32 + 2.5 / 1.5).ln();
        let norm = 1.5 * (1.0 - 0.75 + 0.75 * 4.0 / (7.0 / 3.0));
        let want = idf * 1.0 / (1.0 + norm);
        let got = i.search("fish", 10, None);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 1);
        assert!((got[0].1 - want).abs() < 1e-6, "{} vs {want}", got[0].1);
    }

    #[test]
    fn ranks_and_filters() {
        let i = index(&["the quick brown fox", "a lazy dog", "quick quick fox jumps"]);
        let got = i.search("quick fox", 10, None);
        assert_eq!(got.iter().map(|h| h.0).collect::<Vec<_>>(), vec![2, 0]);
        let only0 = |p: u32| p == 0;
        let got = i.search("quick fox", 10, Some(&only0));
        assert_eq!(got.iter().map(|h| h.0).collect::<Vec<_>>(), vec![0]);
        assert!(i.search("zebra", 10, None).is_empty());
    }

    #[test]
    fn round_trips_through_bytes() {
        let i = index(&["alpha beta", "beta gamma gamma", "delta"]);
        let mut w = Writer::default();
        i.write_to(&mut w);
        let buf = w.into_inner();
        let j = Bm25Index::read_from(&mut Reader::new(&buf)).unwrap();
        assert_eq!(
            i.search("gamma beta", 3, None),
            j.search("gamma beta", 3, None)
        );
        assert!(Bm25Index::read_from(&mut Reader::new(&buf[..buf.len() - 3])).is_none());
    }
}
