"""The chat page (GET /) in headless Chromium over loopback: type a message, send it, and a
streamed reply appears with the run figures beside it."""
import shutil

import pytest

import cdp
from conftest import wait_until


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed (scripts/setup.sh installs it)"
    b = cdp.Browser(chromium)
    yield b
    b.close()


def test_reply_streams_into_the_page_with_figures(browser, open_server):
    page = browser.open(open_server.url + "/")
    model = lambda: page.eval("(document.getElementById('s-model') || {}).textContent")
    assert wait_until(lambda: model() not in (None, "–"), timeout=30), "the page did not load"
    page.eval("""(() => {
        document.getElementById('temp').value = '0';
        document.getElementById('maxtok').value = '12';
        document.getElementById('prompt').value = 'What is the capital of France?';
        document.getElementById('send').click();
    })()""")
    state = lambda: page.eval("(document.querySelector('.msg.assistant') || {dataset: {}}).dataset.state")
    assert wait_until(lambda: state() in ("done", "error")), "no reply finished in the page"
    assert state() == "done", page.eval("document.querySelector('.msg.assistant').textContent")
    reply = page.eval("document.querySelector('.msg.assistant').textContent")
    assert "Paris" in reply
    assert page.eval("document.querySelector('.msg.user').textContent") == "What is the capital of France?"
    figures = page.eval("""Object.fromEntries([...document.querySelectorAll('#figures dd')]
                                              .map(d => [d.id, d.textContent]))""")
    assert 1 <= int(figures["f-tokens"]) <= 12
    assert float(figures["f-tps"]) > 0
    assert figures["f-bpt"].endswith("MiB")
    assert int(figures["f-prompt"]) > 10
    assert figures["f-kv"].endswith("MiB") and float(figures["f-kv"].split()[0]) > 0
    assert model() == "SmolLM2-135M-Instruct.Q4_1"

    # A second turn reuses the conversation's cached prefix.
    page.eval("""(() => {
        document.getElementById('prompt').value = 'And of Italy?';
        document.getElementById('send').click();
    })()""")
    done = lambda: page.eval("[...document.querySelectorAll('.msg.assistant')].map(m => m.dataset.state).join()")
    assert wait_until(lambda: done() in ("done,done", "done,error")) and done() == "done,done"
    reuse = page.eval("document.getElementById('f-reuse').textContent")
    assert reuse.endswith("%") and int(reuse.rstrip(" %")) > 50
