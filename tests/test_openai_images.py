"""The openai-images generator through the real SDK against the fake server."""

from __future__ import annotations

import base64
import io

import pytest
from fake_openai import png_bytes
from PIL import Image

from blogart.errors import LLMError, UsageError
from blogart.generators.openai_images import NO_SEED, OpenAIImagesGenerator
from blogart.llm.client import LLMClient
from blogart.store import Store
from blogart.values import GenerationRequest

IMAGES = "/v1/images/generations"


def make(fake, tmp_path, **kwargs) -> OpenAIImagesGenerator:
    return OpenAIImagesGenerator(
        api_key="sk-test", base_url=fake.base_url, store=Store(tmp_path / "db.sqlite"), **kwargs
    )


def png(drawing) -> Image.Image:
    image = Image.open(io.BytesIO(drawing.png))
    assert image.format == "PNG"
    return image


def test_dalle3_one_request_per_image_returns_pngs(fake_openai, tmp_path):
    generator = make(fake_openai, tmp_path)
    request = GenerationRequest(prompt="a kelp forest", negative_prompt="text, watermark", n=2, seed=7)
    drawings = generator.generate(request, round=2)
    assert len(drawings) == 2
    sent = fake_openai.calls(IMAGES)
    assert len(sent) == 2  # dall-e-3 draws one image per request
    assert sent[0].json == {
        "model": "dall-e-3",
        "prompt": "a kelp forest. Avoid: text, watermark.",
        "n": 1,
        "size": "1024x1024",
        "response_format": "b64_json",
    }
    for drawing in drawings:
        assert png(drawing).size == (1024, 1024)
        assert drawing.seed == NO_SEED and drawing.round == 2
        assert drawing.generator == "openai-images:dall-e-3"
        assert drawing.prompt == "a kelp forest" and drawing.negative_prompt == "text, watermark"
    assert [d.index for d in drawings] == [0, 1]
    assert list(tmp_path.rglob("*.png")) == []  # generators never write files
    calls = generator.client.store.recent_calls()
    assert [c.kind for c in calls] == ["images.generations"] * 2
    assert calls[0].cost_usd == pytest.approx(0.04)
    assert calls[0].response["data"][0]["b64_json"].startswith("<")  # images are not copied into the log


def test_dalle2_batches_and_says_it_has_no_tokenizer(fake_openai, tmp_path):
    generator = make(fake_openai, tmp_path, model="dall-e-2", size="256x256")
    drawings = generator.generate(GenerationRequest(prompt="otters", n=3))
    assert len(fake_openai.calls(IMAGES)) == 1 and fake_openai.calls(IMAGES)[0].json["n"] == 3
    assert fake_openai.calls(IMAGES)[0].json["prompt"] == "otters"
    assert [(d.round, d.index) for d in drawings] == [(1, 0), (1, 1), (1, 2)]
    # Distinct images, as the fake paints each of a batch in its own colour.
    assert len({d.png for d in drawings}) == 3
    assert generator.count_tokens("otters") is None and generator.max_prompt_tokens() is None


def test_gpt_image_jpeg_is_converted_and_has_no_response_format(fake_openai, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (32, 16), (10, 20, 30)).save(buf, format="JPEG")
    jpeg = base64.b64encode(buf.getvalue()).decode()
    fake_openai.on(IMAGES, lambda req: (200, {"created": 0, "data": [{"b64_json": jpeg}] * req["n"]}))
    client = LLMClient("gpt-4o", "sk-test", base_url=fake_openai.base_url, store=Store(tmp_path / "db.sqlite"))
    generator = OpenAIImagesGenerator(client, model="gpt-image-1", size="1024x1536")
    [drawing] = generator.generate(GenerationRequest(prompt="p", n=1))
    assert "response_format" not in fake_openai.calls(IMAGES)[0].json
    assert png(drawing).size == (32, 16)
    assert client.store.recent_calls()[0].model == "gpt-image-1"


def test_rate_limit_is_retried_then_errors_are_one_line(fake_openai, tmp_path):
    client = LLMClient(
        "gpt-4o",
        "sk-test",
        base_url=fake_openai.base_url,
        store=Store(tmp_path / "db.sqlite"),
        max_retries=1,
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    generator = OpenAIImagesGenerator(client, model="dall-e-2", size="256x256")
    fake_openai.queue(IMAGES, status=429)
    assert len(generator.generate(GenerationRequest(prompt="p", n=1))) == 1
    fake_openai.queue(IMAGES, status=500)
    fake_openai.queue(IMAGES, status=500)
    with pytest.raises(LLMError, match="images.generations to dall-e-2 .* failed after 2 attempts: HTTP 500"):
        generator.generate(GenerationRequest(prompt="p", n=1))


def test_bad_payloads_are_llm_errors(fake_openai, tmp_path):
    generator = make(fake_openai, tmp_path, model="dall-e-2", size="256x256")
    fake_openai.queue(IMAGES, body={"created": 0, "data": [{"b64_json": base64.b64encode(b"nope").decode()}]})
    with pytest.raises(LLMError, match="not an image"):
        generator.generate(GenerationRequest(prompt="p", n=1))
    fake_openai.queue(IMAGES, body={"created": 0, "data": []})
    with pytest.raises(LLMError, match="returned 0 images, 1 asked for"):
        generator.generate(GenerationRequest(prompt="p", n=1))


def test_a_corrupt_png_is_an_llm_error(fake_openai, tmp_path):
    generator = make(fake_openai, tmp_path, model="dall-e-2", size="256x256")
    broken = bytearray(png_bytes(8, 8, (1, 2, 3)))
    broken[-20] ^= 0xFF  # a bad chunk checksum: PIL's verify() raises SyntaxError
    fake_openai.queue(IMAGES, body={"created": 0, "data": [{"b64_json": base64.b64encode(broken).decode()}]})
    with pytest.raises(LLMError, match="not an image"):
        generator.generate(GenerationRequest(prompt="p", n=1))


def test_no_images_asked_for_is_a_usage_error(fake_openai, tmp_path):
    generator = make(fake_openai, tmp_path, model="dall-e-2", size="256x256")
    with pytest.raises(UsageError, match="n must be >= 1"):
        generator.generate(GenerationRequest(prompt="p", n=0))
    assert fake_openai.calls(IMAGES) == []


def test_bad_size_and_missing_key_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="dall-e-3 cannot draw 256x256"):
        OpenAIImagesGenerator("sk", model="dall-e-3", size="256x256", store=Store(tmp_path / "d"))
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        OpenAIImagesGenerator(None, store=Store(tmp_path / "d"))


def test_fake_png_helper_is_a_real_png():
    with Image.open(io.BytesIO(png_bytes(8, 4, (1, 2, 3)))) as image:
        assert image.size == (8, 4) and image.getpixel((0, 0)) == (1, 2, 3)
