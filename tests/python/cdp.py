"""A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (no extra packages).

Chromium reads NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4.
Headless, loopback-only use by the chat page test: open a page, evaluate JavaScript in it.
"""
import fcntl
import json
import os
import subprocess
import tempfile


class Browser:
    """Owns one headless Chromium process and its temporary profile; close() ends both."""

    def __init__(self, chromium="chromium"):
        self._profile = tempfile.TemporaryDirectory(prefix="fs-chromium-")
        cmd_r, self._cmd_w = os.pipe()  # we write commands, chromium reads fd 3
        self._out_r, out_w = os.pipe()  # chromium writes fd 4, we read

        def child_fds():  # in the child, before exec: the pipe ends become fds 3 and 4
            r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)  # above 4, so the dup2s cannot clobber them
            w = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", "about:blank"]
        # close_fds=False keeps fds 3 and 4; every other descriptor Python opened is close-on-exec.
        self._proc = subprocess.Popen(args, close_fds=False, preexec_fn=child_fds,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._buffer = b""
        self._next_id = 0

    def call(self, method, params=None, session=None):
        """Sends one command and returns its result; raises on a protocol error."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _read(self):
        while b"\0" not in self._buffer:
            data = os.read(self._out_r, 65536)
            if not data:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += data
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url):
        """Opens url in a new tab; returns a Page."""
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)

    def close(self):
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._cmd_w)
        os.close(self._out_r)
        self._profile.cleanup()


class Page:
    """One tab of a Browser."""

    def __init__(self, browser, session):
        self._browser = browser
        self._session = session

    def eval(self, expression):
        """Evaluates a JavaScript expression (promises awaited) and returns its JSON value."""
        result = self._browser.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                         "returnByValue": True}, self._session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")
