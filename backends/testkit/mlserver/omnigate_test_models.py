"""Deterministic models for omnigate's tests, served by a real MLServer as custom runtimes.

Each answer can be recomputed exactly by the test that asked for it, so a test checks what
arrived at the server, not merely that something did.
"""

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.types import InferenceRequest, InferenceResponse


def _layout(model: MLModel) -> str:
    extra = model.settings.parameters.extra if model.settings.parameters else None
    return (extra or {}).get("layout", "nchw")


class ImageStats(MLModel):
    """For each picture of a batch: the mean of each channel (FP64 [n, 3]) and the values of
    four pixels, (0, 0), (0, W-1), (H-1, 0) and (H/2, W/3), per channel (FP32 [n, 3, 4]).
    `parameters.extra.layout` says whether the input is NCHW (default) or NHWC."""

    async def load(self) -> bool:
        self.layout = _layout(self)
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        if self.layout == "nhwc":
            x = x.transpose(0, 3, 1, 2)
        means = x.astype(np.float64).mean(axis=(2, 3))
        h, w = x.shape[2], x.shape[3]
        points = [(0, 0), (0, w - 1), (h - 1, 0), (h // 2, w // 3)]
        pixels = np.stack([x[:, :, y, xx] for (y, xx) in points], axis=2)
        return InferenceResponse(
            model_name=self.name,
            id=payload.id,
            outputs=[
                NumpyCodec.encode_output("channel_mean", means),
                NumpyCodec.encode_output("pixels", pixels.astype(np.float32)),
            ],
        )


class AudioStats(MLModel):
    """A sound's length (`length`, INT64 [1]), its first 8 samples (`head`, FP32 [8]) and the sum
    of all its samples (`total`, FP64 [1])."""

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32).reshape(-1)
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                NumpyCodec.encode_output("length", np.array([x.size], dtype=np.int64)),
                NumpyCodec.encode_output("head", x[:8]),
                NumpyCodec.encode_output("total", np.array([x.astype(np.float64).sum()])),
            ],
        )


def hash_vector(text: bytes) -> list:
    """v[d] = (sum of byte[j] * (j + d + 1)) mod 997 / 997, for d in 0..8."""
    return [
        float(sum(b * (j + d + 1) for j, b in enumerate(text)) % 997) / 997.0
        for d in range(8)
    ]


class HashEmbedder(MLModel):
    """An 8-dimensional vector per text (FP32 [n, 8]), by `hash_vector`."""

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        texts = StringCodec.decode_input(payload.inputs[0])
        vectors = np.array(
            [hash_vector(t.encode("utf-8")) for t in texts], dtype=np.float32
        )
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output("embedding", vectors)],
        )


def reply(prompt: str) -> str:
    return "Hello from MLServer, you said: " + prompt.split("\n\n")[-1]


class EchoLlm(MLModel):
    """Text generation over the generate extension: answers `reply(prompt)`, streamed word by
    word through `generate_stream`."""

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        prompt = StringCodec.decode_input(payload.inputs[0])[0]
        return InferenceResponse(
            model_name=self.name,
            outputs=[StringCodec.encode_output("text_output", [reply(prompt)])],
        )

    async def predict_stream(self, payloads):
        async for payload in payloads:
            prompt = StringCodec.decode_input(payload.inputs[0])[0]
            for word in reply(prompt).split(" "):
                yield InferenceResponse(
                    model_name=self.name,
                    outputs=[StringCodec.encode_output("text_output", [word + " "])],
                )
