"""The official OpenAI Python SDK against the embedded default models (real weights), the
chat model's reply streamed.

Env: OMNIGATE_BASE_URL, OMNIGATE_PNG (a picture of text), OMNIGATE_WAV (a speech recording),
OMNIGATE_EXPECTED_TEXT (the picture's first line), OMNIGATE_EXPECTED_WORDS (the recording's)."""

import base64
import os
import re

import openai

client = openai.OpenAI(base_url=os.environ["OMNIGATE_BASE_URL"] + "/v1", api_key="unused")

# Embeddings: the SDK asks for base64 by default and decodes it.
vectors = client.embeddings.create(model="all-minilm-l6-v2", input=["hello world", "bonjour"])
assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 384, vectors
norm = sum(v * v for v in vectors.data[0].embedding) ** 0.5
assert abs(norm - 1.0) < 1e-4, norm
assert vectors.usage.prompt_tokens > 0, vectors.usage

# OCR through chat with an image part.
with open(os.environ["OMNIGATE_PNG"], "rb") as f:
    url = "data:image/png;base64," + base64.b64encode(f.read()).decode()
chat = client.chat.completions.create(
    model="pp-ocrv4",
    messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
)
first_line = chat.choices[0].message.content.splitlines()[0]
assert first_line == os.environ["OMNIGATE_EXPECTED_TEXT"], chat

# Speech recognition through the audio endpoint.
with open(os.environ["OMNIGATE_WAV"], "rb") as f:
    transcript = client.audio.transcriptions.create(model="whisper-tiny.en", file=f)


def words(text):
    return [w for w in re.sub(r"[^a-z0-9 ]", " ", text.lower()).split()]


assert words(transcript.text) == words(os.environ["OMNIGATE_EXPECTED_WORDS"]), transcript

# Text chat with the embedded language model, streamed token by token, with usage at the end.
question = [{"role": "user", "content": "Name the capital of France."}]
stream = client.chat.completions.create(
    model="smollm2-135m-instruct", messages=question, temperature=0, stream=True,
    stream_options={"include_usage": True},
)
pieces, finish, usage = [], None, None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        finish = choice.finish_reason or finish
streamed = "".join(pieces)
assert len(pieces) > 2 and "Paris" in streamed, pieces
assert finish == "stop" and usage.completion_tokens >= len(pieces), (finish, usage)
whole = client.chat.completions.create(model="smollm2-135m-instruct", messages=question, temperature=0)
assert whole.choices[0].message.content == streamed, (whole, streamed)
assert whole.usage.prompt_tokens == usage.prompt_tokens, (whole.usage, usage)
print("ok")
