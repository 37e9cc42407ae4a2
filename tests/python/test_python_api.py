"""The Python API (from flashstream import FlashConfig, FlashManager) on the real SmolLM2:
streaming and whole replies, chat messages, sampling options, statistics, errors as
exceptions, the GIL released while generating, and generations interrupted from Python."""
import _thread
import signal
import sys
import threading

import pytest

from flashstream import FlashConfig, FlashManager, FlashstreamError


@pytest.fixture(scope="module")
def loaded(model_path):
    manager = FlashManager(FlashConfig(threads=2, context_length=1024))
    return manager.load(model_path)


@pytest.fixture(scope="module")
def model(loaded):
    return loaded[0]


def test_the_issue_example(model_path):
    manager = FlashManager(FlashConfig(ram_budget_gb=2.0, kv_quant=8, threads=2))
    model, tokenizer = manager.load(model_path)
    pieces = list(model.stream_generate("Tell me a story", max_tokens=8))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert model.last_stats["generated_tokens"] <= 8
    assert tokenizer.decode(tokenizer.encode("a story", add_special=False)) == "a story"


def test_stream_and_generate_agree_and_answer(model):
    pieces = list(model.stream_generate("What is the capital of France?", max_tokens=12, temperature=0))
    assert len(pieces) > 1 and all(isinstance(p, str) and p for p in pieces)
    text = "".join(pieces)
    assert "Paris" in text
    assert model.generate("What is the capital of France?", max_tokens=12, temperature=0) == text
    stats = model.last_stats
    assert stats["prompt_tokens"] > 10
    assert 1 <= stats["generated_tokens"] <= 12
    assert stats["stop_reason"] in ("eos", "length")
    assert stats["decode_tps"] >= 0 and stats["kv_bytes"] > 0 and stats["resident_bytes"] > 0
    assert stats["reused_tokens"] > 0  # the second call reused the first's prompt K/V


def test_chat_messages_template_and_tokenizer(model, loaded):
    tokenizer = loaded[1]
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi."}]
    rendered = tokenizer.apply_chat_template(messages)
    assert rendered.startswith("<|im_start|>system\nYou are terse.<|im_end|>")
    assert rendered.endswith("<|im_start|>assistant\n")
    ids = tokenizer.apply_chat_template(messages, tokenize=True)
    assert tokenizer.decode(ids) == rendered
    assert tokenizer.decode(tokenizer.encode("héllo wörld", add_special=False)) == "héllo wörld"
    assert tokenizer.vocab_size == 49152
    reply = model.chat(messages, max_tokens=6, temperature=0)
    assert reply == model.generate("Say hi.", system="You are terse.", max_tokens=6, temperature=0)
    raw = model.generate("The capital of France is", raw=True, max_tokens=4, temperature=0)
    assert "Paris" in raw


def test_sampling_options_seed_and_stop(model):
    kwargs = dict(max_tokens=10, temperature=1.0, top_k=40, top_p=0.9, min_p=0.05, repeat_penalty=1.1, seed=99)
    a = model.generate("Write about the sea.", **kwargs)
    assert a == model.generate("Write about the sea.", **kwargs)
    full = model.generate("Count from 1 to 10.", max_tokens=30, temperature=0)
    assert "3" in full
    assert model.generate("Count from 1 to 10.", max_tokens=30, temperature=0, stop="3") == full[:full.index("3")]
    assert model.last_stats["stop_reason"] == "stop"
    model.generate("Hi", max_tokens=5, temperature=0, ignore_eos=True)
    assert model.last_stats["generated_tokens"] == 5
    # Speculative decoding by prompt lookup leaves greedy output unchanged.
    assert model.generate("Count from 1 to 10.", max_tokens=30, temperature=0, lookup=3, draft_max=4) == full


def test_errors_are_exceptions_with_the_engine_message(model, model_path):
    with pytest.raises(FlashstreamError, match="no such file"):
        FlashManager().load("/nonexistent/model.gguf")
    with pytest.raises(ValueError, match=r"ram: expected a number >= 0, got '-1'"):
        FlashManager(FlashConfig(ram_budget_gb=-1)).load(model_path)
    with pytest.raises(ValueError, match="prefetch"):
        FlashManager(FlashConfig(prefetch=1)).load(model_path)
    with pytest.raises(ValueError, match=r"kv_quant: expected 8, 4 or 0, got '5'"):
        FlashManager(FlashConfig(kv_quant=5)).load(model_path)
    with pytest.raises(ValueError, match="temperature"):
        model.generate("Hi", temperature=-0.5)
    with pytest.raises(ValueError, match="num_predict"):
        model.generate("Hi", max_tokens=0)
    with pytest.raises(TypeError, match="unknown generation option 'temprature'"):
        model.generate("Hi", temprature=0.5)
    with pytest.raises(ValueError, match="messages"):
        model.chat([{"content": "no role"}])
    with pytest.raises(FlashstreamError, match="does not fit the context"):
        model.generate("word " * 1500, max_tokens=2)
    assert "Paris" in model.generate("What is the capital of France?", max_tokens=12, temperature=0)  # still fine


def test_leaving_the_loop_stops_the_generation(model):
    seen = []
    for piece in model.stream_generate("Tell me a long story.", max_tokens=400, ignore_eos=True, temperature=0):
        seen.append(piece)
        if len(seen) == 3:
            break
    assert model.last_stats["stop_reason"] == "cancelled"
    assert model.last_stats["generated_tokens"] < 400


def test_cancel_from_another_thread_and_gil_released(model):
    started = threading.Event()
    pieces = []

    def worker():
        for piece in model.stream_generate("Tell me a long story.", max_tokens=400, ignore_eos=True, temperature=0):
            pieces.append(piece)
            started.set()

    old = sys.getswitchinterval()
    # With a 100 s switch interval a thread gives up the GIL only when it blocks with it released:
    # this thread gets to run while the worker generates only if the engine waits without the GIL.
    sys.setswitchinterval(100)
    try:
        t = threading.Thread(target=worker)
        t.start()
        assert started.wait(timeout=120)
        assert t.is_alive() and len(pieces) < 400
        model.cancel()
        t.join(timeout=120)
    finally:
        sys.setswitchinterval(old)
    assert not t.is_alive()
    assert model.last_stats["stop_reason"] == "cancelled"


def test_keyboard_interrupt_cancels_and_raises(model):
    # A runner started in the background inherits SIGINT ignored, and then interrupt_main does
    # nothing: install Python's own handler for the duration of the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        timer = threading.Timer(0.5, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            for _ in model.stream_generate("Tell me a long story.", max_tokens=4000, ignore_eos=True, temperature=0):
                pass
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert model.last_stats["stop_reason"] == "cancelled"
    assert model.generate("Hi", max_tokens=3, temperature=0, ignore_eos=True)  # the engine is free again
