r"""The LangChain side of the store-ingest benchmark (see store_ingest.sh): BEIR SciFact documents
loaded, split, embedded with all-MiniLM-L6-v2 and written into Postgres/pgvector (langchain-postgres)
or Chroma (langchain-chroma), the way a LangChain user would write it.

Prints one JSON line. `wall_s` covers load + split + embed + write; Python imports, the model load
(`model_load_s`) and connecting to / emptying the store (`setup_s`) are reported apart.

Chunking (`--chunking cairn`, the default) reproduces cairn's default recursive chunker
(crates/cairn-ingest/src/chunk.rs, defaults in crates/cairn/src/config.rs) with LangChain's own
RecursiveCharacterTextSplitter.from_huggingface_tokenizer, so both sides embed the same texts:
- document text as cairn's JSONL loader builds it (crates/cairn-ingest/src/jsonl.rs):
  `title + "\n" + text`, each trimmed (whichever is there when one is empty);
- sizes in the model's tokens without special tokens, chunk_tokens 254 (cairn's max_tokens,
  also the model's 256 less [CLS]/[SEP]) and overlap 32;
- cairn's context header: when the title takes at most a quarter of the budget, each chunk of the
  document is cut to 254 - (title tokens + 1), the overlap to min(32, that / 2), and a chunk that
  does not open with the title is embedded (and stored) as `title + "\n" + chunk`;
- a sentence level between line and word, as the Rust text-splitter crate cairn uses has
  (separators "\n\n", "\n", after [.!?] + whitespace, " ", "").
On the first 50 SciFact documents this gives chunk for chunk the same texts as cairn.
`--chunking stock` is LangChain out of the box instead: chunk_size 254, chunk_overlap 32, the
default separators, no title header.
"""
import argparse
import json
import os
import sys
import time
from urllib.parse import urlsplit

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--store", choices=["postgres", "chroma"], required=True)
p.add_argument("--url",
               help="postgres: postgres:// or postgresql:// URL; chroma: http://host:port")
p.add_argument("--collection", default="scifact_langchain")
p.add_argument("--corpus", required=True, help="BEIR corpus.jsonl ({_id, title, text} per line)")
p.add_argument("--limit", type=int, help="the first N documents")
p.add_argument("--model-dir", default=os.path.expanduser("~/.cache/cairn/models/all-MiniLM-L6-v2"))
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--chunk-tokens", type=int, default=254, help="cairn: chunking.max_tokens")
p.add_argument("--chunk-overlap", type=int, default=32, help="cairn: chunking.overlap")
# The packaged model folder has no sentence_bert_config.json, so sentence-transformers would
# embed up to 512 tokens; cairn (and sentence-transformers with the full folder) stop at 256.
p.add_argument("--max-seq-length", type=int, default=256)
p.add_argument("--chunking", choices=["cairn", "stock"], default="cairn",
               help="cairn: reproduce cairn's chunks; stock: LangChain's defaults (see above)")
p.add_argument("--write-batch", type=int, default=0,
               help="chunks per add_documents call; 0 (default): one call, cut only where the "
                    "store needs it (Chroma's max_batch_size; Postgres' 65535 bind parameters)")
p.add_argument("--dump-chunks", metavar="PATH",
               help="also write the chunks as JSONL ({doc_id, text}), after the timed part")
p.add_argument("--split-only", action="store_true",
               help="load and split only (no model forward pass, no store): for checking chunks")
a = p.parse_args()
if not a.url and not a.split_only:
    p.error("--url is required (unless --split-only)")

# Keep every thread pool to --threads: torch's intra-op pool (below), OpenMP/MKL, and the Rust
# tokenizers' rayon pool (read when first used).
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(var, str(a.threads))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true" if a.threads > 1 else "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb client
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_huggingface import HuggingFaceEmbeddings  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402

torch.set_num_threads(a.threads)


def log(msg):
    print(f"langchain_ingest: {msg}", file=sys.stderr, flush=True)


class Timed(Embeddings):
    """Delegates to an Embeddings, adding up the time spent embedding documents."""

    def __init__(self, inner):
        self.inner, self.seconds, self.texts = inner, 0.0, 0

    def embed_documents(self, texts):
        t = time.perf_counter()
        out = self.inner.embed_documents(texts)
        self.seconds += time.perf_counter() - t
        self.texts += len(texts)
        return out

    def embed_query(self, text):
        return self.inner.embed_query(text)


# --- model load (reported apart) ---
t0 = time.perf_counter()
hf = HuggingFaceEmbeddings(
    model_name=a.model_dir,
    model_kwargs={"device": "cpu"},
    encode_kwargs={"normalize_embeddings": True, "batch_size": a.batch_size},
)
st = hf._client  # the SentenceTransformer
st.max_seq_length = a.max_seq_length
tokenizer = st.tokenizer
hf.embed_documents(["warm up"])
model_load_s = time.perf_counter() - t0
embeddings = Timed(hf)


# --- store connection and an empty collection (reported apart) ---
def pg_sqlalchemy_url(url):
    """postgres:// / postgresql:// -> postgresql+psycopg:// (SQLAlchemy with psycopg 3)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgres", "postgresql"):
        sys.exit(f"--url {url!r}: expected postgres:// or postgresql://")
    return "postgresql+psycopg://" + rest


t0 = time.perf_counter()
store_limit = 1 << 62
if a.split_only:
    store = None
elif a.store == "postgres":
    from langchain_postgres import PGVector

    store = PGVector(
        embeddings=embeddings,
        collection_name=a.collection,
        connection=pg_sqlalchemy_url(a.url),
        use_jsonb=True,
        pre_delete_collection=True,
    )
    # One INSERT per add_documents call, 5 bind parameters a row, at most 65535 a statement.
    store_limit = 13000
else:
    import chromadb
    from chromadb.config import Settings
    from langchain_chroma import Chroma

    u = urlsplit(a.url)
    if u.scheme not in ("http", "https") or not u.hostname:
        sys.exit(f"--url {a.url!r}: expected http://host:port")
    client = chromadb.HttpClient(host=u.hostname, port=u.port or (443 if u.scheme == "https" else 8000),
                                 ssl=u.scheme == "https",
                                 settings=Settings(anonymized_telemetry=False))
    try:
        client.delete_collection(a.collection)
    except Exception:  # not there: fine (chromadb raises NotFoundError / ValueError by version)
        pass
    store = Chroma(client=client, collection_name=a.collection, embedding_function=embeddings,
                   collection_metadata={"hnsw:space": "cosine"})
    # langchain-chroma sends one upsert per call; the server refuses more than this.
    store_limit = client.get_max_batch_size()
setup_s = time.perf_counter() - t0

# --- the timed ingest: load, split, embed, write ---
t_start = time.perf_counter()
docs = []
with open(a.corpus, encoding="utf-8") as f:
    for line in f:
        if a.limit is not None and len(docs) >= a.limit:
            break
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        title = (d.get("title") or "").strip()
        text = (d.get("text") or "").strip()
        if not title and not text:
            continue
        # As cairn's JSONL loader: "title\ntext", or whichever of the two is there.
        body = f"{title}\n{text}" if title and text else (title or text)
        docs.append(Document(page_content=body, metadata={"doc_id": str(d["_id"]), "title": title}))
t_loaded = time.perf_counter()


# A sentence boundary: whitespace after . ! or ? (the separator, kept at the start of the next
# piece, is stripped when pieces merge).
CAIRN_SEPARATORS = ["\n\n", "\n", r"(?<=[.!?])\s+", " ", ""]


def splitter(size, overlap):
    kw = {}
    if a.chunking == "cairn":
        kw = {"separators": CAIRN_SEPARATORS, "is_separator_regex": True}
    return RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        tokenizer, chunk_size=size, chunk_overlap=overlap, **kw)


def opens_with(piece, header):
    """cairn's test for a chunk that already holds its header (a first chunk with the title)."""
    return piece.lstrip().lstrip("#").lstrip().startswith(header)


if a.chunking == "stock":
    chunks = splitter(a.chunk_tokens, a.chunk_overlap).split_documents(docs)
else:
    chunks = []
    plain = splitter(a.chunk_tokens, a.chunk_overlap)
    by_size = {}
    for doc in docs:
        title = doc.metadata["title"]
        s, header = plain, ""
        if title:
            t = len(tokenizer.tokenize(title)) + 1
            if t <= a.chunk_tokens // 4:
                size, header = a.chunk_tokens - t, title
                s = by_size.get(size)
                if s is None:
                    s = by_size[size] = splitter(size, min(a.chunk_overlap, size // 2))
        for piece in s.split_text(doc.page_content):
            if header and not opens_with(piece, header):
                piece = f"{header}\n{piece}"
            chunks.append(Document(page_content=piece, metadata=dict(doc.metadata)))
t_split = time.perf_counter()

if store is not None:
    step = a.write_batch or store_limit
    for i in range(0, len(chunks), step):
        store.add_documents(chunks[i:i + step])
t_end = time.perf_counter()

if a.dump_chunks:
    with open(a.dump_chunks, "w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps({"doc_id": c.metadata["doc_id"], "text": c.page_content}) + "\n")

wall = t_end - t_start
write_s = (t_end - t_split) - embeddings.seconds
print(json.dumps({
    "side": "langchain",
    "store": a.store,
    "collection": a.collection,
    "docs": len(docs),
    "chunks": len(chunks),
    "wall_s": round(wall, 3),
    "docs_per_s": round(len(docs) / wall, 2) if wall > 0 else None,
    "chunks_per_s": round(len(chunks) / wall, 2) if wall > 0 else None,
    "load_s": round(t_loaded - t_start, 3),
    "split_s": round(t_split - t_loaded, 3),
    "embed_s": round(embeddings.seconds, 3),
    "write_s": round(write_s, 3),
    "model_load_s": round(model_load_s, 3),
    "setup_s": round(setup_s, 3),
    "threads": torch.get_num_threads(),
    "batch_size": a.batch_size,
    "write_batch": a.write_batch or None,
    "chunk_tokens": a.chunk_tokens,
    "chunk_overlap": a.chunk_overlap,
    "max_seq_length": st.max_seq_length,
    "chunking": a.chunking,
    "split_only": a.split_only,
}), flush=True)
