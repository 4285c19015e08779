//! A hierarchical navigable small world graph (Malkov & Yashunin, 2016) over the vectors of a
//! `FlatIndex`, for cosine similarity on L2-normalised vectors.
//!
//! Small on purpose: flat adjacency arrays (layer 0 in one `Vec<u32>` with a fixed stride),
//! the SIMD dot product of `vector.rs`, a reusable visited set, and the neighbour-selection
//! heuristic of the paper (keep a candidate only if it is closer to the new node than to any
//! neighbour already kept), which is what makes recall hold on clustered data.

use crate::codec::{Reader, Writer};
use crate::vector::{dot, FlatIndex};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HnswParams {
    /// Links per node on the upper layers; layer 0 keeps `2 * m`.
    pub m: usize,
    pub ef_construction: usize,
    /// Seed for the level draw, so builds are reproducible.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            seed: 0x5eed,
        }
    }
}

/// A candidate during search, ordered by similarity.
#[derive(Clone, Copy, PartialEq)]
struct Cand {
    sim: f32,
    id: u32,
}
impl Eq for Cand {}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.sim.total_cmp(&o.sim).then(o.id.cmp(&self.id))
    }
}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Min-heap wrapper: the worst of the kept results on top.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Worst(std::cmp::Reverse<Cand>);

pub struct Hnsw {
    params: HnswParams,
    /// Layer 0: `stride = 2m + 1` slots per node, the first holding the count.
    layer0: Vec<u32>,
    /// Upper layers: per node, its lists for layers 1..=level.
    upper: Vec<Vec<Vec<u32>>>,
    levels: Vec<u8>,
    entry: Option<u32>,
    max_level: usize,
    rng: u64,
    /// Visited sets reused across searches; searches share `&self` across threads.
    pool: std::sync::Mutex<Vec<Visited>>,
}

/// A visited set that resets in O(1) by bumping an epoch.
struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    fn new(n: usize) -> Self {
        Visited {
            marks: vec![0; n],
            epoch: 0,
        }
    }
    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }
    /// True the first time `id` is seen since the last reset.
    fn insert(&mut self, id: u32) -> bool {
        let m = &mut self.marks[id as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

impl Hnsw {
    pub fn new(params: HnswParams) -> Self {
        Hnsw {
            params,
            layer0: Vec::new(),
            upper: Vec::new(),
            levels: Vec::new(),
            entry: None,
            max_level: 0,
            rng: params.seed | 1,
            pool: Default::default(),
        }
    }

    /// Builds the graph over every vector of `vectors`, in order.
    pub fn build(vectors: &FlatIndex, params: HnswParams) -> Self {
        let mut h = Hnsw::new(params);
        h.layer0.reserve(vectors.len() * h.stride());
        for i in 0..vectors.len() {
            h.insert(vectors, i as u32);
        }
        h
    }

    fn stride(&self) -> usize {
        2 * self.params.m + 1
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    fn next_random(&mut self) -> f64 {
        // xorshift64*: enough for level draws, and reproducible.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let v = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((v >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn take_visited(&self) -> Visited {
        let pooled = self.pool.lock().map(|mut p| p.pop()).unwrap_or(None);
        pooled.unwrap_or_else(|| Visited::new(self.levels.len()))
    }

    fn give_visited(&self, v: Visited) {
        if let Ok(mut p) = self.pool.lock() {
            p.push(v);
        }
    }

    fn neighbours(&self, id: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let s = id as usize * self.stride();
            let n = self.layer0[s] as usize;
            &self.layer0[s + 1..s + 1 + n]
        } else {
            &self.upper[id as usize][layer - 1]
        }
    }

    fn set_neighbours(&mut self, id: u32, layer: usize, list: &[u32]) {
        if layer == 0 {
            let s = id as usize * self.stride();
            self.layer0[s] = list.len() as u32;
            self.layer0[s + 1..s + 1 + list.len()].copy_from_slice(list);
        } else {
            let l = &mut self.upper[id as usize][layer - 1];
            l.clear();
            l.extend_from_slice(list);
        }
    }

    fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            2 * self.params.m
        } else {
            self.params.m
        }
    }

    /// Greedy walk to the single closest node on one layer.
    fn greedy(&self, vectors: &FlatIndex, q: &[f32], mut cur: Cand, layer: usize) -> Cand {
        loop {
            let mut improved = false;
            for &n in self.neighbours(cur.id, layer) {
                let s = dot(q, vectors.get(n));
                if s > cur.sim {
                    cur = Cand { sim: s, id: n };
                    improved = true;
                }
            }
            if !improved {
                return cur;
            }
        }
    }

    /// The `ef` best nodes reachable on one layer from `entry`, best first. Nodes rejected by
    /// `allow` are walked through but not returned.
    #[allow(clippy::too_many_arguments)]
    fn search_layer(
        &self,
        visited: &mut Visited,
        vectors: &FlatIndex,
        q: &[f32],
        entry: Cand,
        ef: usize,
        layer: usize,
        allow: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Cand> {
        visited.reset(self.levels.len());
        visited.insert(entry.id);
        let mut candidates = BinaryHeap::new(); // best first
        let mut results: BinaryHeap<Worst> = BinaryHeap::new(); // worst first
        candidates.push(entry);
        if allow.is_none_or(|f| f(entry.id)) {
            results.push(Worst(std::cmp::Reverse(entry)));
        }
        while let Some(c) = candidates.pop() {
            if results.len() >= ef {
                let worst = results.peek().expect("non-empty").0 .0;
                if c.sim < worst.sim {
                    break;
                }
            }
            let stride = self.stride();
            let list: &[u32] = if layer == 0 {
                let s = c.id as usize * stride;
                let cnt = self.layer0[s] as usize;
                &self.layer0[s + 1..s + 1 + cnt]
            } else {
                &self.upper[c.id as usize][layer - 1]
            };
            for &nb in list {
                if !visited.insert(nb) {
                    continue;
                }
                let s = dot(q, vectors.get(nb));
                let full = results.len() >= ef;
                if !full || s > results.peek().expect("non-empty").0 .0.sim {
                    let cand = Cand { sim: s, id: nb };
                    candidates.push(cand);
                    if allow.is_none_or(|f| f(nb)) {
                        results.push(Worst(std::cmp::Reverse(cand)));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        let mut out: Vec<Cand> = results.into_iter().map(|w| w.0 .0).collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }

    /// The paper's heuristic: take candidates best first, keeping one only if it is closer
    /// to the base than to every neighbour kept so far.
    fn select(&self, vectors: &FlatIndex, cands: &[Cand], m: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(m);
        for c in cands {
            if kept.len() >= m {
                break;
            }
            let v = vectors.get(c.id);
            if kept.iter().all(|&k| dot(v, vectors.get(k)) < c.sim) {
                kept.push(c.id);
            }
        }
        kept
    }

    /// Adds vector `id` (which must be the next position) to the graph.
    pub fn insert(&mut self, vectors: &FlatIndex, id: u32) {
        assert_eq!(id as usize, self.levels.len(), "insert positions in order");
        let ml = 1.0 / (self.params.m as f64).ln();
        let level = ((-self.next_random().ln() * ml) as usize).min(30);
        self.levels.push(level as u8);
        let stride = self.stride();
        self.layer0.resize(self.layer0.len() + stride, 0);
        self.upper.push(vec![Vec::new(); level]);
        let q = vectors.get(id).to_vec();
        let Some(entry) = self.entry else {
            self.entry = Some(id);
            self.max_level = level;
            return;
        };
        let mut cur = Cand {
            sim: dot(&q, vectors.get(entry)),
            id: entry,
        };
        for layer in (level + 1..=self.max_level).rev() {
            cur = self.greedy(vectors, &q, cur, layer);
        }
        for layer in (0..=level.min(self.max_level)).rev() {
            let mut visited = self.take_visited();
            let found = self.search_layer(
                &mut visited,
                vectors,
                &q,
                cur,
                self.params.ef_construction,
                layer,
                None,
            );
            self.give_visited(visited);
            let max = self.max_links(layer);
            let chosen = self.select(vectors, &found, self.params.m);
            self.set_neighbours(id, layer, &chosen);
            for &nb in &chosen {
                let mut list = self.neighbours(nb, layer).to_vec();
                if list.len() < max {
                    list.push(id);
                    self.set_neighbours(nb, layer, &list);
                } else {
                    // Over capacity: re-select among the old links and the new node.
                    let base = vectors.get(nb);
                    list.push(id);
                    let mut cands: Vec<Cand> = list
                        .iter()
                        .map(|&x| Cand {
                            sim: dot(base, vectors.get(x)),
                            id: x,
                        })
                        .collect();
                    cands.sort_unstable_by(|a, b| b.cmp(a));
                    let kept = self.select(vectors, &cands, max);
                    self.set_neighbours(nb, layer, &kept);
                }
            }
            if let Some(best) = found.first() {
                cur = *best;
            }
        }
        if level > self.max_level {
            self.max_level = level;
            self.entry = Some(id);
        }
    }

    /// The `k` most similar positions, best first; `ef` (≥ k) trades speed for recall.
    pub fn search(
        &self,
        vectors: &FlatIndex,
        q: &[f32],
        k: usize,
        ef: usize,
        allow: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<(u32, f32)> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let mut cur = Cand {
            sim: dot(q, vectors.get(entry)),
            id: entry,
        };
        for layer in (1..=self.max_level).rev() {
            cur = self.greedy(vectors, q, cur, layer);
        }
        let mut visited = self.take_visited();
        let found = self.search_layer(&mut visited, vectors, q, cur, ef.max(k), 0, allow);
        self.give_visited(visited);
        found.into_iter().take(k).map(|c| (c.id, c.sim)).collect()
    }

    pub fn write_to(&self, w: &mut Writer) {
        w.u32(self.params.m as u32);
        w.u32(self.params.ef_construction as u32);
        w.u64(self.params.seed);
        w.u32(self.levels.len() as u32);
        w.u32(self.entry.map(|e| e + 1).unwrap_or(0));
        w.u32(self.max_level as u32);
        for (i, &l) in self.levels.iter().enumerate() {
            w.u32(l as u32);
            for layer in &self.upper[i] {
                w.u32(layer.len() as u32);
                for &x in layer {
                    w.u32(x);
                }
            }
        }
        for &x in &self.layer0 {
            w.u32(x);
        }
    }

    pub fn read_from(r: &mut Reader) -> Option<Self> {
        let params = HnswParams {
            m: r.u32()? as usize,
            ef_construction: r.u32()? as usize,
            seed: r.u64()?,
        };
        let n = r.u32()? as usize;
        let entry = r.u32()?.checked_sub(1);
        let max_level = r.u32()? as usize;
        let mut levels = Vec::with_capacity(n.min(r.remaining() / 4));
        let mut upper = Vec::with_capacity(n.min(r.remaining() / 4));
        for _ in 0..n {
            let l = r.u32()? as usize;
            if l > 30 {
                return None;
            }
            levels.push(l as u8);
            let mut lists = Vec::with_capacity(l);
            for _ in 0..l {
                let c = r.u32()? as usize;
                let list = (0..c).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
                if list.iter().any(|&x| x as usize >= n) {
                    return None;
                }
                lists.push(list);
            }
            upper.push(lists);
        }
        let stride = 2 * params.m + 1;
        let layer0 = (0..n * stride)
            .map(|_| r.u32())
            .collect::<Option<Vec<_>>>()?;
        for i in 0..n {
            let c = layer0[i * stride] as usize;
            if c > 2 * params.m
                || layer0[i * stride + 1..i * stride + 1 + c]
                    .iter()
                    .any(|&x| x as usize >= n)
            {
                return None;
            }
        }
        if entry.is_some_and(|e| e as usize >= n) {
            return None;
        }
        Some(Hnsw {
            params,
            layer0,
            upper,
            levels,
            entry,
            max_level,
            rng: params.seed | 1,
            pool: Default::default(),
        })
    }
}

/// Clustered unit vectors for tests and benchmarks: `clusters` random centres with Gaussian-ish
/// noise around each. Uniform random vectors are a degenerate case for every HNSW.
pub fn synthetic_clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> FlatIndex {
    let mut s = seed | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| rnd()).collect())
        .collect();
    let mut f = FlatIndex::new(dim);
    let mut v = vec![0f32; dim];
    for i in 0..n {
        let c = &centres[(i * 7919) % clusters];
        for (x, m) in v.iter_mut().zip(c) {
            // Sum of three uniforms: roughly Gaussian noise.
            *x = m + 0.25 * (rnd() + rnd() + rnd());
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        f.push(&v);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> FlatIndex {
        synthetic_clustered(n, dim, clusters, seed)
    }

    #[test]
    fn recall_against_exact_search_on_clustered_data() {
        let all = clustered(4100, 32, 40, 7);
        let data = FlatIndex::from_data(32, all.data()[..4000 * 32].to_vec());
        let queries = FlatIndex::from_data(32, all.data()[4000 * 32..].to_vec());
        let h = Hnsw::build(
            &data,
            HnswParams {
                m: 12,
                ef_construction: 100,
                seed: 1,
            },
        );
        let mut hit = 0;
        for i in 0..queries.len() {
            let q = queries.get(i as u32);
            let exact: Vec<u32> = data.search(q, 10, None).into_iter().map(|x| x.0).collect();
            let approx: Vec<u32> = h
                .search(&data, q, 10, 64, None)
                .into_iter()
                .map(|x| x.0)
                .collect();
            hit += approx.iter().filter(|a| exact.contains(a)).count();
        }
        let recall = hit as f64 / 1000.0;
        assert!(recall > 0.95, "recall@10 {recall}");
    }

    #[test]
    fn filters_and_round_trips() {
        let data = clustered(500, 16, 5, 3);
        let h = Hnsw::build(&data, HnswParams::default());
        let even = |p: u32| p.is_multiple_of(2);
        let got = h.search(&data, data.get(7), 5, 50, Some(&even));
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|(p, _)| p % 2 == 0));
        let mut w = Writer::default();
        h.write_to(&mut w);
        let buf = w.into_inner();
        let h2 = Hnsw::read_from(&mut Reader::new(&buf)).unwrap();
        assert_eq!(
            h.search(&data, data.get(3), 10, 40, None),
            h2.search(&data, data.get(3), 10, 40, None)
        );
        assert!(Hnsw::read_from(&mut Reader::new(&buf[..buf.len() - 1])).is_none());
    }

    #[test]
    fn finds_itself_first() {
        let data = clustered(300, 8, 3, 5);
        let h = Hnsw::build(&data, HnswParams::default());
        for i in [0u32, 77, 299] {
            assert_eq!(h.search(&data, data.get(i), 1, 32, None)[0].0, i);
        }
    }
}
