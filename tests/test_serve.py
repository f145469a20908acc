"""`zoo serve`: the official openai client and curl against the demo model, served by LiteRT-LM."""

from __future__ import annotations

import json
import signal
import subprocess
import threading

import pytest

from helpers import ZooServer, run_zoo

pytestmark = pytest.mark.slow
MODEL = "zoo-demo-cpu-int8"
PROMPT = "the zoo keeps"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    """One demo build for every test here (33 s), in a home of its own."""
    env = {"ZOO_HOME": str(tmp_path_factory.mktemp("serve-home"))}
    run_zoo("build", "zoo-demo", env=env, check=True, timeout=600)
    return env


@pytest.fixture
def server(demo_home):
    running = ZooServer(demo_home)
    yield running
    if running.process.poll() is None:
        running.stop()


def direct_text(env: dict, max_tokens: int) -> str:
    """What `zoo run` prints for the prompt (LiteRT-LM greedily, in one job): the served text must equal it."""
    ran = run_zoo("run", MODEL, "--prompt", PROMPT, "--max-tokens", str(max_tokens), "--json", env=env, check=True)
    return json.loads(ran.stdout)["text"]


def test_the_openai_client_streams_completions_and_chats(server, demo_home):
    from openai import OpenAI

    client = OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == [MODEL]
    pieces = [c.choices[0].text for c in client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8,
                                                                   temperature=0, stream=True)]
    assert len(pieces) > 2 and "".join(pieces) == direct_text(demo_home, 8)
    whole = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0)
    assert whole.choices[0].text == "".join(pieces) and whole.choices[0].finish_reason == "length"
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPT}],
                                            max_tokens=12, temperature=0, stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks).strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "Be brief."},
                                                                 {"role": "user", "content": "hello"},
                                                                 {"role": "assistant", "content": "the zoo"},
                                                                 {"role": "user", "content": PROMPT}],
                                          max_tokens=6, temperature=0.7, top_p=0.9, seed=3)
    assert chat.choices[0].message.content and chat.usage.completion_tokens <= 6 and chat.usage.prompt_tokens > 0


def test_a_stop_string_is_never_sent(server, demo_home):
    from openai import OpenAI

    client = OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    full = direct_text(demo_home, 8)
    stop = full.strip()[2:4]  # two characters from inside the greedy continuation
    cut = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0, stop=[stop])
    assert cut.choices[0].text == full[: full.index(stop)] and cut.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0, stop=stop, stream=True))
    assert streamed == cut.choices[0].text


def test_clients_at_once_are_answered_one_after_another_by_one_engine(server, demo_home):
    """Four clients ask together: each gets the whole greedy text, unmixed, from the one engine."""
    from openai import OpenAI

    want = direct_text(demo_home, 48)
    answers, errors = [], []

    def ask():
        try:
            client = OpenAI(base_url=server.url, api_key="unused", max_retries=0)
            answers.append("".join(c.choices[0].text for c in client.completions.create(
                model=MODEL, prompt=PROMPT, max_tokens=48, temperature=0, stream=True)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and answers == [want] * 4
    assert len(server.engines()) == 1


def curl(url: str, *args: str) -> tuple[int, str]:
    done = subprocess.run(["curl", "-sS", "-N", "-w", "\n%{http_code}", *args, url], capture_output=True, text=True,
                          timeout=60)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_curl_streams_and_bad_requests_get_openai_errors(server, tmp_path):
    status, body = curl(f"{server.url}/chat/completions", "-d", json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 6, "stream": True}))
    events = [line[6:] for line in body.splitlines() if line.startswith("data: ")]
    assert status == 200 and events[-1] == "[DONE]"
    assert json.loads(events[0])["object"] == "chat.completion.chunk"
    refused = {
        "not JSON": ("{", 400, None),
        "no messages": (json.dumps({"model": MODEL, "messages": []}), 400, "messages"),
        "an image part": (json.dumps({"model": MODEL, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "x"}}]}]}), 400, "messages[0].content"),
        "too many tokens": (json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                        "max_tokens": 10**9}), 400, "max_tokens"),
        "a bad temperature": (json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                          "temperature": "hot"}), 400, "temperature"),
        "an unknown model": (json.dumps({"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]}), 404, "model"),
        "too many messages": (json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}] * 300}),
                              400, "messages"),
    }
    for case, (data, want_status, param) in refused.items():
        status, body = curl(f"{server.url}/chat/completions", "-d", data)
        error = json.loads(body)["error"]
        assert (status, error["param"]) == (want_status, param), case
        assert error["message"] and error["type"], case
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"model": MODEL, "prompt": "x" * (2 << 20)}))
    status, body = curl(f"{server.url}/completions", "--data-binary", f"@{big}")
    assert status == 413 and "at most" in json.loads(body)["error"]["message"]
    status, body = curl(f"{server.url}/completions", "-H", "Content-Length: 99999999", "-d", "x")
    assert status == 413 and "at most" in json.loads(body)["error"]["message"]
    assert curl(f"{server.url}/nowhere")[0] == 404
    assert server.process.poll() is None  # none of it took the server down


def test_an_api_key_is_required_once_set_and_needed_beyond_loopback(demo_home):
    refused = run_zoo("serve", "--host", "0.0.0.0", "--port", "0", env=demo_home)
    assert refused.returncode == 2 and "without an API key" in refused.stderr
    keyed = ZooServer(demo_home | {"ZOO_API_KEY": "sk-zoo-test-key"})
    try:
        assert curl(f"{keyed.url}/models")[0] == 401
        assert curl(f"{keyed.url}/models", "-H", "Authorization: Bearer wrong")[0] == 401
        status, body = curl(f"{keyed.url}/models", "-H", "Authorization: Bearer sk-zoo-test-key")
        assert status == 200 and MODEL in body
    finally:
        keyed.stop()
    assert "sk-zoo-test-key" not in keyed.process.stderr.read()


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_it_stops_cleanly_on_sigterm_and_ctrl_c_leaving_no_process(demo_home, number):
    running = ZooServer(demo_home, ignore_sigint=True)  # Ctrl-C must stop it even when started in the background
    status, _ = curl(f"{running.url}/completions", "-d", json.dumps({"model": MODEL, "prompt": PROMPT, "max_tokens": 4}))
    assert status == 200 and len(running.engines()) == 1
    assert running.stop(number) == 0
    assert "Stopping" in running.process.stderr.read()
