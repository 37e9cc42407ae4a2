"""The official `openai` Python client against `flashstream serve` over loopback (API key on):
chat and completions, streamed and not, the model list, and errors as the client's exceptions."""
import concurrent.futures

import openai
import pytest

from conftest import API_KEY


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=API_KEY, max_retries=0, timeout=600)


QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_chat_streamed_and_not_agree(client):
    answer = client.chat.completions.create(model="any", messages=QUESTION, max_tokens=12, temperature=0)
    text = answer.choices[0].message.content
    assert "Paris" in text
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage.prompt_tokens > 10
    assert 1 <= answer.usage.completion_tokens <= 12
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens

    stream = client.chat.completions.create(model="any", messages=QUESTION, max_tokens=12, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == text
    assert finish == answer.choices[0].finish_reason
    assert usage.completion_tokens == answer.usage.completion_tokens


def test_completions_streamed_and_not_agree(client):
    answer = client.completions.create(model="any", prompt="The capital of France is", max_tokens=6, temperature=0)
    text = answer.choices[0].text
    assert "Paris" in text
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="any", prompt="The capital of France is", max_tokens=6, temperature=0, stream=True) if c.choices)
    assert streamed == text


def test_sampling_options_and_stop(client):
    kwargs = dict(model="any", messages=[{"role": "user", "content": "Write a sentence about cats."}], max_tokens=10,
                  temperature=0.9, top_p=0.9, seed=7)
    a = client.chat.completions.create(**kwargs).choices[0].message.content
    b = client.chat.completions.create(**kwargs).choices[0].message.content
    assert a == b  # same seed, same text
    full = client.chat.completions.create(model="any", messages=[{"role": "user", "content": "Count from 1 to 10."}],
                                          max_tokens=30, temperature=0).choices[0].message.content
    assert "3" in full, full
    cut = client.chat.completions.create(model="any", messages=[{"role": "user", "content": "Count from 1 to 10."}],
                                         max_tokens=30, temperature=0, stop=["3"])
    assert cut.choices[0].message.content == full[:full.index("3")]
    assert cut.choices[0].finish_reason == "stop"


def test_models_and_errors(client, server):
    assert [m.id for m in client.models.list()] == ["SmolLM2-135M-Instruct.Q4_1"]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="any", messages=QUESTION, temperature=-1)
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="any", messages=QUESTION, max_tokens=1_000_000)
    assert e.value.body["code"] == "context_length_exceeded"
    wrong = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_sixteen_concurrent_clients(client):
    def ask(i):
        messages = [{"role": "user", "content": f"What is {i} plus {i}?"}]
        if i % 2:
            return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="any", messages=messages, max_tokens=8, temperature=0, stream=True) if c.choices)
        return client.chat.completions.create(model="any", messages=messages, max_tokens=8,
                                              temperature=0).choices[0].message.content

    expected = [ask(i) for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        got = list(pool.map(ask, range(16)))
    assert got == expected
    assert all(got)
