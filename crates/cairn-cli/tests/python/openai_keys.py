"""The openai SDK's own exception types from `cairn serve`'s key checks: a bad key, a revoked
key, a key over its budget, a key limited to another collection. Args: server URL, then the
secrets of a live key, a revoked key, a key with a zero budget and a key scoped to `other`."""
import json
import sys

import openai
from openai import OpenAI

server, live, revoked, broke, scoped = sys.argv[1:6]
url = server + "/v1"
msgs = [{"role": "user", "content": "hi"}]


def client(key):
    return OpenAI(base_url=url, api_key=key, max_retries=0)


for key in ["sk-cairn-not-a-key", revoked]:
    try:
        client(key).models.list()
        raise AssertionError("a bad key was accepted")
    except openai.AuthenticationError as e:
        assert e.body["code"] == "invalid_api_key", e.body
try:
    client(broke).chat.completions.create(model="openai:gpt-4o-mini", messages=msgs)
    raise AssertionError("a key over budget was served")
except openai.RateLimitError as e:
    assert e.body["code"] == "budget_exceeded" and "budget" in e.body["message"], e.body
try:
    client(scoped).chat.completions.create(model="rag:default", messages=msgs)
    raise AssertionError("a scoped key used another collection")
except openai.PermissionDeniedError as e:
    assert e.body["code"] == "collection_not_allowed", e.body
ids = [m.id for m in client(scoped).models.list()]
assert "rag:other" in ids and "rag:default" not in ids, ids
assert client(live).models.list().data
print(json.dumps({"passed": True}))
