"""ragas's side of bench/ragas_compare.sh: scores an answers file (ragas column names:
user_input, response, retrieved_contexts, reference) with ragas's five metrics that cairn also
computes, through the same OpenAI-compatible judge and embedder, greedy.

Usage: python bench/ragas_score.py ANSWERS.jsonl OUT.json --base-url URL --model M --embedder E
Writes {"seconds", "llm_calls", "embedding_calls", "samples": [{"id", metric: score|null}]}.

Choices, each so both tools ask the same judge the same way:
- the legacy metric classes with LangchainLLMWrapper(ChatOpenAI(temperature=0)) and
  bypass_temperature, so every call is greedy (ragas otherwise raises it to 0.3 for n > 1);
- answer relevancy with strictness 1: greedy sampling would give ragas's 3 samples the same
  question, so 3 calls would add cost and nothing else;
- context precision with reference (LLMContextPrecisionWithReference), context recall
  (LLMContextRecall), faithfulness, factual correctness (F1, ragas's default decomposition);
- one worker, as the judge serves one generation at a time.
"""
import argparse
import json
import math
import time

from langchain_core.callbacks import BaseCallbackHandler
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from ragas import EvaluationDataset, evaluate
from ragas.embeddings import LangchainEmbeddingsWrapper
from ragas.llms import LangchainLLMWrapper
from ragas.metrics import (
    FactualCorrectness,
    Faithfulness,
    LLMContextPrecisionWithReference,
    LLMContextRecall,
    ResponseRelevancy,
)
from ragas.run_config import RunConfig

ap = argparse.ArgumentParser()
ap.add_argument("answers")
ap.add_argument("out")
ap.add_argument("--base-url", required=True)
ap.add_argument("--model", required=True)
ap.add_argument("--embedder", required=True)
ap.add_argument("--api-key", default="unused")
a = ap.parse_args()


class CountCalls(BaseCallbackHandler):
    calls = 0

    def on_chat_model_start(self, *args, **kwargs):
        CountCalls.calls += 1

    def on_llm_start(self, *args, **kwargs):
        CountCalls.calls += 1


class CountedEmbeddings(OpenAIEmbeddings):
    calls: int = 0

    def embed_documents(self, texts, *args, **kwargs):
        self.calls += 1
        return super().embed_documents(texts, *args, **kwargs)

    def embed_query(self, text, *args, **kwargs):
        self.calls += 1
        return super().embed_query(text, *args, **kwargs)

    async def aembed_documents(self, texts, *args, **kwargs):
        self.calls += 1
        return await super().aembed_documents(texts, *args, **kwargs)

    async def aembed_query(self, text, *args, **kwargs):
        self.calls += 1
        return await super().aembed_query(text, *args, **kwargs)


rows = [json.loads(line) for line in open(a.answers) if line.strip()]
dataset = EvaluationDataset.from_list([
    {k: r[k] for k in ("user_input", "response", "retrieved_contexts", "reference")} for r in rows
])
chat = ChatOpenAI(base_url=a.base_url, api_key=a.api_key, model=a.model, temperature=0,
                  max_retries=0, timeout=900, callbacks=[CountCalls()])
llm = LangchainLLMWrapper(chat, bypass_temperature=True)
emb_model = CountedEmbeddings(base_url=a.base_url, api_key=a.api_key, model=a.embedder,
                              check_embedding_ctx_length=False)
emb = LangchainEmbeddingsWrapper(emb_model)
metrics = [
    Faithfulness(),
    ResponseRelevancy(strictness=1),
    LLMContextPrecisionWithReference(),
    LLMContextRecall(),
    FactualCorrectness(),
]
started = time.perf_counter()
result = evaluate(dataset, metrics=metrics, llm=llm, embeddings=emb,
                  run_config=RunConfig(max_workers=1, timeout=1800, max_retries=0),
                  show_progress=True, raise_exceptions=False)
seconds = time.perf_counter() - started
names = {
    "faithfulness": "faithfulness",
    "answer_relevancy": "answer_relevancy",
    "llm_context_precision_with_reference": "context_precision",
    "context_recall": "context_recall",
    "factual_correctness(mode=f1)": "factual_correctness",
    "factual_correctness": "factual_correctness",
}
frame = result.to_pandas()
samples = []
for i, r in enumerate(rows):
    s = {"id": r.get("id", str(i))}
    for col, name in names.items():
        if col in frame.columns:
            v = frame.iloc[i][col]
            s[name] = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
    samples.append(s)
json.dump({"seconds": seconds, "llm_calls": CountCalls.calls,
           "embedding_calls": emb_model.calls, "samples": samples}, open(a.out, "w"), indent=1)
print(f"ragas: {len(rows)} samples in {seconds:.0f} s, {CountCalls.calls} judge calls, "
      f"{emb_model.calls} embedding calls -> {a.out}")
