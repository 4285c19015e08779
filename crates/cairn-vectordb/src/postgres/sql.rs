//! The SQL of the Postgres backend: the schema of a collection, the statements the store
//! runs, and [`Filter`]s compiled to SQL with bind parameters (values are never spliced into
//! the text; only identifiers the store validated and numbers it chose are).
//!
//! Every compiled filter is a boolean expression that is never NULL, so `NOT` is plain
//! negation, as [`Filter::matches`] has it.

use cairn_core::{CmpOp, Filter, FilterValue};
use tokio_postgres::types::ToSql;

/// The schema layout this code writes and reads.
pub(crate) const SCHEMA_VERSION: i32 = 1;

/// pgvector's HNSW index takes `vector` columns of at most this many dimensions.
pub(crate) const HNSW_MAX_DIM: usize = 2000;

/// pgvector's upper bound for `hnsw.ef_search`.
pub(crate) const EF_SEARCH_MAX: usize = 1000;

/// `"name"`, with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Bind parameters collected while compiling a statement, numbered after `first - 1` fixed
/// ones.
pub(crate) struct Params {
    offset: usize,
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Params {
    /// Parameters numbered from `$first`.
    pub(crate) fn starting_at(first: usize) -> Self {
        Params {
            offset: first - 1,
            values: Vec::new(),
        }
    }

    /// Adds a value and returns its placeholder (`$n`).
    fn push<T: ToSql + Sync + Send + 'static>(&mut self, v: T) -> String {
        self.values.push(Box::new(v));
        format!("${}", self.offset + self.values.len())
    }

    /// The collected values, in placeholder order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
    }
}

/// Compiles `filter` over the jsonb column `col` (chunk metadata) to a boolean SQL expression
/// that is never NULL and agrees with [`Filter::matches`]. `schema` is the collection's quoted
/// schema, which holds `cairn_date_epoch`.
pub(crate) fn compile_filter(filter: &Filter, col: &str, schema: &str, p: &mut Params) -> String {
    match filter {
        Filter::All => "TRUE".into(),
        Filter::Exists { key } => {
            let k = p.push(key.clone());
            format!("({col} ? {k}::text)")
        }
        Filter::Cmp { key, op, value } => compile_cmp(key, *op, value, col, schema, p),
        Filter::In {
            key,
            values,
            negated,
        } => compile_in(key, values, *negated, col, schema, p),
        Filter::And(fs) if fs.is_empty() => "TRUE".into(),
        Filter::Or(fs) if fs.is_empty() => "FALSE".into(),
        Filter::And(fs) | Filter::Or(fs) => {
            let sep = if matches!(filter, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Vec<String> = fs
                .iter()
                .map(|f| compile_filter(f, col, schema, p))
                .collect();
            format!("({})", parts.join(sep))
        }
        Filter::Not(f) => format!("(NOT {})", compile_filter(f, col, schema, p)),
    }
}

fn sql_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
    }
}

/// `key op value`: true only when the stored value has the filter value's JSON type (a string
/// for dates) and compares as `op` says, as `FilterValue::compare` does. The `CASE` keeps the
/// casts away from values of other types (SQL does not promise the order `AND` evaluates in).
fn compile_cmp(
    key: &str,
    op: CmpOp,
    value: &FilterValue,
    col: &str,
    schema: &str,
    p: &mut Params,
) -> String {
    // Nothing compares with NaN (and no parameter is taken for it).
    if matches!(value, FilterValue::Num(n) | FilterValue::Date { epoch: n, .. } if n.is_nan()) {
        return "FALSE".into();
    }
    let k = format!("{}::text", p.push(key.to_string()));
    let typ = format!("jsonb_typeof({col} -> {k})");
    let text = format!("({col} ->> {k})");
    let o = sql_op(op);
    let (json_type, cond, contains) = match value {
        // Byte order, as Rust compares strings ("C" collation is memcmp of UTF-8).
        FilterValue::Str(s) => {
            let v = p.push(s.clone());
            (
                "string",
                format!("{text} COLLATE \"C\" {o} {v}::text"),
                Some(format!("{v}::text")),
            )
        }
        FilterValue::Num(n) => {
            let v = p.push(*n);
            ("number", format!("{text}::float8 {o} {v}::float8"), None)
        }
        FilterValue::Bool(b) => {
            let v = p.push(*b);
            (
                "boolean",
                format!("{text}::boolean {o} {v}::boolean"),
                Some(format!("{v}::boolean")),
            )
        }
        FilterValue::Date { epoch, .. } => {
            let v = p.push(*epoch);
            (
                "string",
                format!("{schema}.cairn_date_epoch({text}) {o} {v}::float8"),
                None,
            )
        }
    };
    let exact =
        format!("COALESCE(CASE WHEN {typ} = '{json_type}' THEN {cond} ELSE FALSE END, FALSE)");
    match (op, contains) {
        // Containment is implied by the exact test and lets the metadata GIN index help.
        (CmpOp::Eq, Some(v)) => format!("({col} @> jsonb_build_object({k}, {v}) AND {exact})"),
        _ => exact,
    }
}

/// `key in [values]` (`negated`: the key present with none of them).
fn compile_in(
    key: &str,
    values: &[FilterValue],
    negated: bool,
    col: &str,
    schema: &str,
    p: &mut Params,
) -> String {
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    let mut bools = Vec::new();
    let mut dates = Vec::new();
    for v in values {
        match v {
            FilterValue::Str(s) => strings.push(s.clone()),
            FilterValue::Num(n) if !n.is_nan() => numbers.push(*n),
            FilterValue::Bool(b) => bools.push(*b),
            FilterValue::Date { epoch, .. } if !epoch.is_nan() => dates.push(*epoch),
            FilterValue::Num(_) | FilterValue::Date { .. } => {}
        }
    }
    let k = format!("{}::text", p.push(key.to_string()));
    if strings.is_empty() && numbers.is_empty() && bools.is_empty() && dates.is_empty() {
        // Nothing can equal: `in` is false, `nin` says only that the key is there.
        return if negated {
            format!("({col} ? {k})")
        } else {
            // The key's parameter is still referenced, so the statement takes every one.
            format!("({k} IS NULL AND FALSE)")
        };
    }
    let text = format!("({col} ->> {k})");
    let mut string_arm = Vec::new();
    if !strings.is_empty() {
        let v = p.push(strings);
        string_arm.push(format!("{text} = ANY({v}::text[])"));
    }
    if !dates.is_empty() {
        let v = p.push(dates);
        string_arm.push(format!(
            "COALESCE({schema}.cairn_date_epoch({text}) = ANY({v}::float8[]), FALSE)"
        ));
    }
    let mut arms = Vec::new();
    if !string_arm.is_empty() {
        arms.push(format!("WHEN 'string' THEN {}", string_arm.join(" OR ")));
    }
    if !numbers.is_empty() {
        let v = p.push(numbers);
        arms.push(format!(
            "WHEN 'number' THEN {text}::float8 = ANY({v}::float8[])"
        ));
    }
    if !bools.is_empty() {
        let v = p.push(bools);
        arms.push(format!(
            "WHEN 'boolean' THEN {text}::boolean = ANY({v}::boolean[])"
        ));
    }
    let hit = if arms.is_empty() {
        "FALSE".to_string()
    } else {
        format!(
            "COALESCE(CASE jsonb_typeof({col} -> {k}) {} ELSE FALSE END, FALSE)",
            arms.join(" ")
        )
    };
    if negated {
        format!("({col} ? {k} AND NOT {hit})")
    } else {
        hit
    }
}

/// The characters Rust's `str::trim` removes (Unicode White_Space), as an E'' literal body.
const UNICODE_SPACE: &str = "\\u0009\\u000A\\u000B\\u000C\\u000D\\u0020\\u0085\\u00A0\\u1680\
     \\u2000\\u2001\\u2002\\u2003\\u2004\\u2005\\u2006\\u2007\\u2008\\u2009\\u200A\\u2028\\u2029\
     \\u202F\\u205F\\u3000";

/// The statements that create a collection's schema (run in one transaction, after
/// `CREATE EXTENSION vector`). `vector_schema` is the quoted schema of the extension. The
/// HNSW index is not among them: the store builds it once the collection is large enough
/// ([`Statements::create_index`]).
pub(crate) struct Ddl<'a> {
    pub schema: &'a str,
    pub vector_schema: &'a str,
    pub dim: usize,
    /// A validated text search configuration name (`english`).
    pub text_search: &'a str,
}

impl Ddl<'_> {
    pub(crate) fn sql(&self) -> String {
        let s = self.schema;
        let v = self.vector_schema;
        let dim = self.dim;
        let ts = self.text_search;
        format!(
            r#"
CREATE SCHEMA {s};
CREATE TABLE {s}.meta (
    one boolean PRIMARY KEY DEFAULT TRUE CHECK (one),
    schema_version integer NOT NULL,
    model text NOT NULL,
    dim integer NOT NULL,
    generation bigint NOT NULL DEFAULT 0,
    -- Kept with every write, so the index policy never counts rows.
    chunks bigint NOT NULL DEFAULT 0,
    -- The chunk count at the last ANALYZE the store ran (the planner's HNSW costs follow it).
    analyzed_chunks bigint NOT NULL DEFAULT 0,
    text_search text NOT NULL,
    hnsw_m integer NOT NULL,
    hnsw_ef_construction integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.documents (
    id text COLLATE "C" PRIMARY KEY,
    source text NOT NULL,
    title text,
    kind text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{{}}',
    content_hash text,
    origin text,
    generation bigint NOT NULL
);
CREATE TABLE {s}.chunks (
    id text COLLATE "C" PRIMARY KEY,
    doc_id text COLLATE "C" NOT NULL REFERENCES {s}.documents (id) ON DELETE CASCADE,
    ordinal bigint NOT NULL,
    text text NOT NULL,
    start bigint NOT NULL,
    "end" bigint NOT NULL,
    heading_path text[] NOT NULL DEFAULT '{{}}',
    context text NOT NULL DEFAULT '',
    metadata jsonb NOT NULL DEFAULT '{{}}',
    embedding {v}.vector({dim}) NOT NULL,
    tsv tsvector GENERATED ALWAYS AS
        (to_tsvector('{ts}'::regconfig, context || E'\n' || text)) STORED
);
CREATE INDEX chunks_doc ON {s}.chunks (doc_id, ordinal);
CREATE INDEX chunks_tsv ON {s}.chunks USING gin (tsv);
CREATE INDEX chunks_metadata ON {s}.chunks USING gin (metadata jsonb_path_ops);

-- cairn_core::parse_date: seconds since the epoch of an ISO-8601 date or date-time, NULL
-- for anything else (never an error, so filters are safe on any string).
CREATE FUNCTION {s}.cairn_date_epoch(s text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $f$
DECLARE
    m text[];
    y int; mo int; d int; mdays int; hh int; mi int; ss int; oh int; om int;
    yy int; era int; yoe int; mp int; doy int; doe int;
    secs double precision;
    off double precision;
BEGIN
    m := regexp_match(btrim(s, E'{space}'),
        '^([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}})(?:[Tt ]([0-9]{{2}}):([0-9]{{2}})(?::([0-9]{{2}})(?:\.([0-9]+))?)?(?:([Zz])|([-+])([0-9]{{2}}):([0-9]{{2}}))?)?$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    y := m[1]::int; mo := m[2]::int; d := m[3]::int;
    -- (plpgsql's IF reads its condition up to the first THEN: no CASE inside one.)
    mdays := CASE
        WHEN mo = 2 AND ((y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0) THEN 29
        WHEN mo = 2 THEN 28
        WHEN mo IN (4, 6, 9, 11) THEN 30
        ELSE 31 END;
    IF mo < 1 OR mo > 12 OR d < 1 OR d > mdays THEN
        RETURN NULL;
    END IF;
    yy := CASE WHEN mo <= 2 THEN y - 1 ELSE y END;
    era := CASE WHEN yy >= 0 THEN yy / 400 ELSE (yy - 399) / 400 END;
    yoe := yy - era * 400;
    mp := (mo + 9) % 12;
    doy := (153 * mp + 2) / 5 + d - 1;
    doe := yoe * 365 + yoe / 4 - yoe / 100 + doy;
    secs := (era::bigint * 146097 + doe - 719468)::double precision * 86400.0;
    IF m[4] IS NULL THEN
        RETURN secs;
    END IF;
    hh := m[4]::int; mi := m[5]::int;
    IF hh > 23 OR mi > 59 THEN
        RETURN NULL;
    END IF;
    secs := secs + (hh * 3600 + mi * 60)::double precision;
    IF m[6] IS NOT NULL THEN
        ss := m[6]::int;
        IF ss > 60 THEN
            RETURN NULL;
        END IF;
        secs := secs + ss::double precision;
        IF m[7] IS NOT NULL THEN
            secs := secs + ('0.' || m[7])::double precision;
        END IF;
    END IF;
    IF m[9] IS NOT NULL THEN
        oh := m[10]::int; om := m[11]::int;
        IF oh > 23 OR om > 59 THEN
            RETURN NULL;
        END IF;
        off := (oh * 3600 + om * 60)::double precision;
        RETURN CASE WHEN m[9] = '+' THEN secs - off ELSE secs + off END;
    END IF;
    RETURN secs;
END
$f$;

-- Full-text queries match any of the words (as BM25 does), ranked by BM25 (Statements::lexical); NULL
-- (which matches nothing) when the text has no words to search for.
CREATE FUNCTION {s}.cairn_or_query(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
    SELECT string_agg(
        '''' || replace(replace(l, '\', '\\'), '''', '''''') || '''', ' | ')::tsquery
    FROM unnest(tsvector_to_array(to_tsvector('{ts}'::regconfig, q))) AS l
$f$;
"#,
            space = UNICODE_SPACE,
        )
    }
}

/// The columns a chunk is read with, in [`crate::postgres`]'s row order, over `chunks c` and
/// `documents d`.
const CHUNK_COLUMNS: &str = "c.id, c.doc_id, c.ordinal, c.text, c.start, c.\"end\", \
    c.heading_path, c.context, c.metadata::text, d.source, d.title";

/// The fixed statements of one collection.
pub(crate) struct Statements {
    pub schema: String,
    vector_schema: String,
    /// `OPERATOR(schema.<=>)`.
    cosine: String,
    /// The qualified name of the HNSW index, for `to_regclass`.
    pub index_name: String,
    pub lock_meta: String,
    /// `$1` the index name: whether it exists, and the chunk count.
    pub index_state: String,
    pub set_meta: String,
    pub bump_generation: String,
    pub read_meta: String,
    pub delete_chunks_of: String,
    pub foreign_chunk: String,
    pub upsert_documents: String,
    pub copy_chunks: String,
    pub delete_document: String,
    pub count: String,
    pub documents: String,
    pub scan_documents: String,
    pub scan_chunks: String,
    pub generation: String,
}

impl Statements {
    pub(crate) fn new(schema: &str, vector_schema: &str) -> Self {
        let s = schema;
        Statements {
            schema: s.to_string(),
            vector_schema: vector_schema.to_string(),
            cosine: format!("OPERATOR({vector_schema}.<=>)"),
            index_name: format!("{s}.chunks_embedding_hnsw"),
            index_state: format!("SELECT to_regclass($1) IS NOT NULL, chunks FROM {s}.meta"),
            lock_meta: format!(
                "SELECT generation, chunks, analyzed_chunks FROM {s}.meta FOR UPDATE"
            ),
            set_meta: format!(
                "UPDATE {s}.meta SET generation = $1, chunks = $2, analyzed_chunks = $3"
            ),
            bump_generation: format!(
                "UPDATE {s}.meta SET generation = generation + 1, chunks = chunks - $1 \
                 RETURNING generation"
            ),
            read_meta: format!(
                "SELECT schema_version, model, dim, generation, text_search, hnsw_m, \
                     hnsw_ef_construction FROM {s}.meta"
            ),
            delete_chunks_of: format!("DELETE FROM {s}.chunks WHERE doc_id = ANY($1::text[])"),
            foreign_chunk: format!(
                "SELECT id, doc_id FROM {s}.chunks WHERE id = ANY($1::text[]) ORDER BY id LIMIT 1"
            ),
            upsert_documents: format!(
                "INSERT INTO {s}.documents \
                     (id, source, title, kind, metadata, content_hash, origin, generation) \
                 SELECT u.id, u.source, u.title, u.kind, u.metadata::jsonb, u.hash, u.origin, $8 \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                             $6::text[], $7::text[]) \
                     AS u(id, source, title, kind, metadata, hash, origin) \
                 ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, \
                     title = EXCLUDED.title, kind = EXCLUDED.kind, metadata = EXCLUDED.metadata, \
                     content_hash = EXCLUDED.content_hash, origin = EXCLUDED.origin, \
                     generation = EXCLUDED.generation"
            ),
            copy_chunks: format!(
                "COPY {s}.chunks (id, doc_id, ordinal, text, start, \"end\", heading_path, \
                 context, metadata, embedding) FROM STDIN (FORMAT binary)"
            ),
            delete_document: format!("DELETE FROM {s}.documents WHERE id = $1"),
            count: format!("SELECT count(*) FROM {s}.chunks"),
            documents: format!(
                "SELECT d.id, d.content_hash, d.origin, \
                     (SELECT count(*) FROM {s}.chunks c WHERE c.doc_id = d.id) \
                 FROM {s}.documents d ORDER BY d.id"
            ),
            scan_documents: format!(
                "SELECT id, source, title, kind, metadata::text, content_hash, origin \
                 FROM {s}.documents WHERE $1::text IS NULL OR id > $1::text \
                 ORDER BY id LIMIT $2"
            ),
            scan_chunks: format!(
                "SELECT c.id, c.doc_id, c.ordinal, c.text, c.start, c.\"end\", c.heading_path, \
                     c.context, c.metadata::text, c.embedding \
                 FROM {s}.chunks c WHERE c.doc_id = ANY($1::text[]) \
                 ORDER BY c.doc_id, c.ordinal, c.id"
            ),
            generation: format!("SELECT generation FROM {s}.meta"),
        }
    }

    /// Builds the HNSW index (cosine) over every chunk.
    pub(crate) fn create_index(&self, m: i32, ef_construction: i32) -> String {
        format!(
            "CREATE INDEX chunks_embedding_hnsw ON {}.chunks USING hnsw \
             (embedding {}.vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})",
            self.schema, self.vector_schema
        )
    }

    pub(crate) fn analyze(&self) -> String {
        format!("ANALYZE {}.chunks", self.schema)
    }

    pub(crate) fn analyzed_now(&self) -> String {
        format!("UPDATE {}.meta SET analyzed_chunks = chunks", self.schema)
    }

    pub(crate) fn drop_index(&self) -> String {
        format!("DROP INDEX IF EXISTS {}", self.index_name)
    }

    /// Chunks by id: `$1` the ids.
    pub(crate) fn get(&self, with_vectors: bool) -> String {
        let s = &self.schema;
        let vec = if with_vectors { ", c.embedding" } else { "" };
        format!(
            "SELECT {CHUNK_COLUMNS}{vec} FROM {s}.chunks c JOIN {s}.documents d ON d.id = c.doc_id \
             WHERE c.id = ANY($1::text[])"
        )
    }

    /// The `$2` nearest chunks to the vector `$1` matching `filter` (an expression over
    /// `c.metadata`), re-sorted by distance (an iterative index scan in relaxed order may
    /// return them slightly out of order), then by id.
    pub(crate) fn dense(&self, filter: &str, with_vectors: bool) -> String {
        let s = &self.schema;
        let op = &self.cosine;
        let (inner_vec, outer_vec) = if with_vectors {
            (", c.embedding", ", h.embedding")
        } else {
            ("", "")
        };
        format!(
            "WITH h AS MATERIALIZED ( \
                 SELECT c.id, c.doc_id, c.ordinal, c.text, c.start, c.\"end\", c.heading_path, \
                     c.context, c.metadata, c.embedding {op} $1 AS distance{inner_vec} \
                 FROM {s}.chunks c WHERE {filter} \
                 ORDER BY c.embedding {op} $1 LIMIT $2) \
             SELECT h.id, h.doc_id, h.ordinal, h.text, h.start, h.\"end\", h.heading_path, \
                 h.context, h.metadata::text, d.source, d.title, h.distance{outer_vec} \
             FROM h JOIN {s}.documents d ON d.id = h.doc_id \
             ORDER BY h.distance, h.id"
        )
    }

    /// BM25's collection statistics: the generation, the chunk count, and the mean chunk
    /// length (distinct lexemes, as [`Statements::lexical`] measures a chunk).
    pub(crate) fn lexical_stats(&self) -> String {
        let s = &self.schema;
        format!(
            "SELECT m.generation, m.chunks::float8, \
                 coalesce(nullif((SELECT avg(length(c.tsv))::float8 FROM {s}.chunks c), 0), 1.0) \
             FROM {s}.meta m"
        )
    }

    /// The `$2` best chunks for the words of `$1` matching `filter`, by BM25 (k1 1.5, b 0.75
    /// and the idf of the embedded index) over the `tsvector` lexemes, a chunk's length being
    /// its count of distinct lexemes (`length(tsv)`, which needs no unnesting): `$3` chunks in
    /// the collection, `$4` their mean length. Candidates are the chunks holding any of the
    /// words (the GIN index); document frequencies are counted per query word through it.
    pub(crate) fn lexical(&self, filter: &str) -> String {
        let s = &self.schema;
        format!(
            r#"WITH q AS MATERIALIZED (
                 SELECT u.lexeme AS term,
                        cardinality(u.positions)::float8
                            * ln(1.0 + ($3::float8 - d.df + 0.5) / (d.df + 0.5)) AS w
                 FROM unnest(to_tsvector((SELECT text_search FROM {s}.meta)::regconfig, $1)) u,
                 LATERAL (SELECT count(*)::float8 AS df FROM {s}.chunks c
                          WHERE c.tsv @@ ('''' || replace(replace(u.lexeme, '\', '\\'), '''', '''''')
                                          || '''')::tsquery) d),
             qa AS MATERIALIZED (SELECT array_agg(term) AS terms, array_agg(w) AS w FROM q),
             h AS MATERIALIZED (
                 SELECT c.id, coalesce((SELECT sum(qa.w[array_position(qa.terms, t.lexeme)]
                              * cardinality(t.positions)
                              / (cardinality(t.positions)
                                 + 1.5 * (0.25 + 0.75 * length(c.tsv) / $4::float8)))
                          FROM unnest(c.tsv) t WHERE t.lexeme = ANY(qa.terms)), 0)::real AS score
                 FROM {s}.chunks c, qa
                 WHERE c.tsv @@ {s}.cairn_or_query($1) AND {filter}
                 ORDER BY score DESC, c.id LIMIT $2)
             SELECT {CHUNK_COLUMNS}, h.score
             FROM h JOIN {s}.chunks c ON c.id = h.id JOIN {s}.documents d ON d.id = c.doc_id
             ORDER BY h.score DESC, h.id"#
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(f: &Filter) -> (String, usize) {
        let mut p = Params::starting_at(3);
        let s = compile_filter(f, "c.metadata", "\"cairn_x\"", &mut p);
        (s, p.values().count())
    }

    #[test]
    fn values_are_parameters_never_text() {
        let f = Filter::parse(&["lang = \"en'; DROP TABLE x; --\" and year >= 2020"]).unwrap();
        let (s, n) = sql(&f);
        assert!(!s.contains("DROP"), "{s}");
        assert!(s.contains("$3::text") && s.contains("$6::float8"), "{s}");
        assert_eq!(n, 4);
    }

    #[test]
    fn empty_and_or_and_nan() {
        assert_eq!(sql(&Filter::And(vec![])).0, "TRUE");
        assert_eq!(sql(&Filter::Or(vec![])).0, "FALSE");
        assert_eq!(sql(&Filter::cmp("x", CmpOp::Gt, f64::NAN)).0, "FALSE");
        let nin = Filter::In {
            key: "k".into(),
            values: vec![],
            negated: true,
        };
        let (s, n) = sql(&nin);
        assert_eq!(s, "(c.metadata ? $3::text)");
        assert_eq!(n, 1);
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
