"""The official `openai` SDK and `langchain-openai` against a running `cairn serve`.

Run by tests/serve.rs with the server's URL, llmock's URL (the provider behind the server)
and a file to write the embeddings to, which the Rust side compares with the library's.
Each check asserts on what the SDK returns; the first failure ends the run with its trace.
"""
import base64
import json
import struct
import sys
import urllib.request

import openai
from openai import OpenAI

server, mock, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
client = OpenAI(base_url=server + "/v1", api_key="unused-without-keys", max_retries=0)
MODEL = "openai:gpt-4o-mini"
done = []


def scenario(behaviors):
    req = urllib.request.Request(mock + "/_llmock/scenario", method="POST",
                                 data=json.dumps({"behaviors": behaviors}).encode(),
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()


def check(name):
    def wrap(f):
        f()
        done.append(name)
        return f
    return wrap


@check("chat")
def _():
    scenario([{"type": "reply", "text": "Cairns mark trails."}])
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "What marks trails?"}])
    assert raw.headers["x-cairn-served-by"] == MODEL, raw.headers
    r = raw.parse()
    assert r.choices[0].message.content == "Cairns mark trails.", r
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # A bare model name resolves to the configured spec, as LangChain sends it.
    r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content


@check("stream with usage")
def _():
    scenario([{"type": "reply", "text": "Stacked stones guide walkers over open ground."}])
    chunks = list(client.chat.completions.create(
        model=MODEL, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "What marks trails?"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Stacked stones guide walkers over open ground.", text
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1, "not streamed"
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"], finish
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0, chunks[-1]


@check("tools round trip")
def _():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                             "required": ["city"]}}}]
    scenario([{"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
              {"type": "reply", "text": "It is sunny in Paris."}])
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    r = client.chat.completions.create(model=MODEL, messages=msgs, tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls", r
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    msgs += [r.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    r = client.chat.completions.create(model=MODEL, messages=msgs, tools=tools)
    assert r.choices[0].message.content == "It is sunny in Paris.", r
    # Streamed, the call arrives in pieces the SDK reassembles.
    scenario([{"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}])
    args, name = "", None
    for c in client.chat.completions.create(model=MODEL, messages=msgs[:1], tools=tools, stream=True):
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            name = d.function.name or name
            args += d.function.arguments or ""
    assert name == "get_weather" and json.loads(args) == {"city": "Oslo"}, (name, args)


@check("response_format json_schema")
def _():
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
              "required": ["city", "temp"], "additionalProperties": False}
    scenario([{"type": "reply", "text": json.dumps({"city": "Oslo", "temp": 4.5})}])
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather as JSON"}],
        response_format={"type": "json_schema", "json_schema": {"name": "weather", "schema": schema, "strict": True}})
    assert json.loads(r.choices[0].message.content) == {"city": "Oslo", "temp": 4.5}
    # The schema reached the provider as OpenAI's own response_format.
    reqs = json.loads(urllib.request.urlopen(mock + "/_llmock/requests").read())["requests"]
    sent = reqs[-1]["body"]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == schema, sent


texts = ["Cairns mark trails above the tree line.", "Honeybees dance to share where flowers are."]


@check("embeddings")
def _():
    f = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)
    b = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts, encoding_format="base64")
    assert [d.index for d in f.data] == [0, 1] and len(f.data[0].embedding) == 384
    # The SDK asks for base64 itself when no format is given, and decodes it: compare raw too.
    raw = client.embeddings.with_raw_response.create(model="all-MiniLM-L6-v2", input=texts[0],
                                                     encoding_format="base64")
    blob = json.loads(raw.text)["data"][0]["embedding"]
    decoded = list(struct.unpack("<384f", base64.b64decode(blob)))
    assert max(abs(x - y) for x, y in zip(decoded, f.data[0].embedding)) < 1e-6
    assert f.usage.prompt_tokens > 0
    one = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts[1])
    # Asked for base64 by name, the SDK hands the string back as it came.
    b64 = [list(struct.unpack("<384f", base64.b64decode(d.embedding))) for d in b.data]
    json.dump({"texts": texts, "float": [d.embedding for d in f.data], "base64": b64, "single": one.data[0].embedding},
              open(out_path, "w"))


@check("models")
def _():
    ids = [m.id for m in client.models.list()]
    assert MODEL in ids and "rag:default" in ids and "all-MiniLM-L6-v2" in ids, ids
    assert client.models.retrieve("rag:default").owned_by == "cairn"


@check("errors")
def _():
    try:
        client.chat.completions.create(model="openai:gpt-5-nope", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("unknown model accepted")
    except openai.NotFoundError as e:
        assert e.body["code"] == "model_not_found" and e.body["param"] == "model", e.body
    try:
        client.chat.completions.create(model=MODEL, messages=[{"role": "wizard", "content": "x"}])
        raise AssertionError("bad role accepted")
    except openai.BadRequestError as e:
        assert e.body["param"] == "messages[0].role", e.body
    try:
        client.embeddings.create(model="text-embedding-3-small", input="x")
        raise AssertionError("unknown embedding model accepted")
    except openai.NotFoundError:
        pass
    # A provider's rate limit reaches the client as its own RateLimitError with Retry-After.
    scenario([{"type": "fail", "status": 429, "times": 10}])
    try:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("429 not raised")
    except openai.RateLimitError as e:
        assert "retry-after" in e.response.headers, e.response.headers
    finally:
        urllib.request.urlopen(urllib.request.Request(mock + "/_llmock/reset", method="POST")).read()


@check("rag chat with citations")
def _():
    scenario([{"type": "reply", "text": "Cairns are stacked stones that mark trails [1]."}])
    r = client.chat.completions.create(model="rag:default",
                                       messages=[{"role": "user", "content": "How are trails marked?"}])
    body = r.model_dump()
    ext = body["cairn"]
    assert "[1]" in r.choices[0].message.content, r
    assert ext["sources"] and ext["sources"][0]["n"] == 1 and ext["sources"][0]["source"].endswith(".md")
    assert ext["citations"]["cited"] == [1] and ext["sentences"][0]["sources"] == [1], ext
    scenario([{"type": "reply", "text": "Cairns are stacked stones that mark trails [1]."}])
    chunks = list(client.chat.completions.create(
        model="rag:default", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "How are trails marked?"}]))
    last = chunks[-1].model_dump()
    assert last["cairn"]["sources"] and last["cairn"]["citations"]["cited"] == [1], last
    assert last["usage"]["completion_tokens"] > 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "[1]" in text, text


@check("langchain ChatOpenAI")
def _():
    from langchain_openai import ChatOpenAI
    scenario([{"type": "reply", "text": "Hello from the server."}])
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=server + "/v1", api_key="unused", max_retries=0)
    m = llm.invoke("Say hello")
    assert m.content == "Hello from the server.", m
    assert m.usage_metadata["output_tokens"] > 0, m.usage_metadata


@check("langchain OpenAIEmbeddings")
def _():
    from langchain_openai import OpenAIEmbeddings
    # check_embedding_ctx_length=False sends text, not tiktoken ids of another model's vocabulary.
    emb = OpenAIEmbeddings(model="all-MiniLM-L6-v2", base_url=server + "/v1", api_key="unused",
                           check_embedding_ctx_length=False)
    vs = emb.embed_documents(texts)
    want = json.load(open(out_path))["float"]
    assert max(abs(x - y) for v, w in zip(vs, want) for x, y in zip(v, w)) < 1e-6
    assert len(emb.embed_query("cairns")) == 384


print(json.dumps({"passed": done}))
