"""Drives a running omnigate with the official OpenAI Python SDK and checks every answer parses.

Started by the Rust test `python_sdk.rs`, which passes the gateway's URL and the expected answer
text in the environment. Exits non-zero (with a traceback) on the first failed check.
"""

import os

import openai
from openai import OpenAI

base_url = os.environ["OMNIGATE_BASE_URL"]
expected = os.environ["OMNIGATE_EXPECTED_ANSWER"]
client = OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0, timeout=20)

# Chat, plain.
completion = client.chat.completions.create(
    model="chat",
    messages=[{"role": "user", "content": "Hello"}],
    temperature=0.1,
    extra_body={"top_k": 3},
)
assert completion.object == "chat.completion", completion
assert completion.model == "chat", completion.model
assert completion.choices[0].message.content == expected, completion.choices[0].message
assert completion.choices[0].finish_reason == "stop"
assert completion.usage.total_tokens == 17, completion.usage

# Chat, streamed, with the usage chunk.
stream = client.chat.completions.create(
    model="chat",
    messages=[{"role": "user", "content": "Hello"}],
    stream=True,
    stream_options={"include_usage": True},
)
chunks = list(stream)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert text == expected, text
assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 17, chunks[-1]
assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)

# Embeddings (the SDK asks for base64 and decodes it).
embeddings = client.embeddings.create(model="embed", input=["first", "second"])
assert [e.index for e in embeddings.data] == [0, 1], embeddings
assert all(len(e.embedding) == 4 for e in embeddings.data), embeddings
floats = client.embeddings.create(model="embed", input="one", encoding_format="float")
assert len(floats.data[0].embedding) == 4

# Models.
ids = [m.id for m in client.models.list()]
assert ids == ["asr", "chat", "embed"], ids
assert client.models.retrieve("chat").id == "chat"

# Speech to text: the SDK's multipart upload, parsed in two response formats.
wav = os.environ["OMNIGATE_WAV"]
with open(wav, "rb") as f:
    transcript = client.audio.transcriptions.create(model="asr", file=f)
assert transcript.text == os.environ["OMNIGATE_TRANSCRIPT"], transcript
with open(wav, "rb") as f:
    verbose = client.audio.transcriptions.create(model="asr", file=f, response_format="verbose_json")
assert len(verbose.segments) == 2 and verbose.duration > 0.9, verbose
with open(wav, "rb") as f:
    srt = client.audio.translations.create(model="asr", file=f, response_format="srt")
assert srt.startswith("1\n00:00:00,000 --> "), srt

# Errors surface as the SDK's typed exceptions, with the message parsed from the envelope.
try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    raise AssertionError("expected NotFoundError")
except openai.NotFoundError as err:
    assert err.status_code == 404 and "no-such-model" in err.message, err
    assert err.code == "model_not_found", err.code

try:
    client.chat.completions.create(model="chat", messages=[])
    raise AssertionError("expected BadRequestError")
except openai.BadRequestError as err:
    assert err.param == "messages", err.param

try:
    OpenAI(base_url=f"{base_url}/v1", api_key="sk-wrong", max_retries=0).models.list()
    raise AssertionError("expected AuthenticationError")
except openai.AuthenticationError as err:
    assert err.status_code == 401

print("openai SDK", openai.__version__, "ok")
