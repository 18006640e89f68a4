import multiprocessing

from fakes import ScriptedLLM

from tailor.llm.cache import ResponseCache, cache_key
from tailor.llm.types import ChatRequest, Completion, Sample, SamplingParams


def echo(request, params, j):
    return f"{request.messages[-1].content}|t={params.temperature}|seed={params.seed}|j={j}"


def test_miss_then_hit_makes_no_second_backend_call(tmp_path):
    llm = ScriptedLLM(echo, ResponseCache(tmp_path / "c.sqlite"))
    requests = [ChatRequest.of("a"), ChatRequest.of("b")]
    first = llm.generate(requests, SamplingParams(max_tokens=5))
    second = llm.generate(requests, SamplingParams(max_tokens=5))
    assert len(llm.received) == 2
    assert [c.text for c in first] == [c.text for c in second]
    assert not any(c.cached for c in first) and all(c.cached for c in second)
    assert (llm.usage.requests, llm.usage.cache_hits) == (2, 2)


def test_duplicate_requests_in_one_call_are_generated_once(tmp_path):
    llm = ScriptedLLM(echo, ResponseCache(tmp_path / "c.sqlite"))
    out = llm.generate([ChatRequest.of("same")] * 3)
    assert len(llm.received) == 1
    assert len({c.text for c in out}) == 1 and len(out) == 3


def test_distinct_seeds_and_params_are_distinct_entries(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    llm = ScriptedLLM(echo, cache)
    request = [ChatRequest.of("q")]
    texts = {llm.generate(request, SamplingParams(temperature=1.0, seed=s))[0].text for s in range(4)}
    assert len(texts) == 4
    llm.generate(request, SamplingParams(temperature=1.0, seed=2))
    assert len(llm.received) == 4  # seed 2 again is a hit
    llm.generate(request, SamplingParams(temperature=0.5, seed=2))
    assert len(llm.received) == 5  # another temperature is a miss
    assert cache.stats().entries == 5


def test_key_covers_model_adapter_and_messages():
    request, params = ChatRequest.of("q"), SamplingParams()
    base = cache_key("hf:m", None, request, params)
    assert base != cache_key("hf:other", None, request, params)
    assert base != cache_key("hf:m", "adapter-hash", request, params)
    assert base != cache_key("hf:m", None, ChatRequest.of("q", system="s"), params)
    assert base == cache_key("hf:m", None, ChatRequest.of("q"), SamplingParams())


def test_a_new_cache_object_on_the_same_file_sees_earlier_entries(tmp_path):
    path = tmp_path / "c.sqlite"
    ScriptedLLM(echo, ResponseCache(path)).generate([ChatRequest.of("x")])
    again = ScriptedLLM(echo, ResponseCache(path))
    again.generate([ChatRequest.of("x")])
    assert again.received == []


def _writer(path: str, worker: int, count: int) -> None:
    cache = ResponseCache(path)
    for i in range(count):
        key = f"w{worker}-{i}"
        cache.put_many("m", {key: Completion(samples=[Sample(text=key, tokens=1)])})
        assert cache.get_many([key])[key].text == key


def test_concurrent_writers_from_several_processes_lose_nothing(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ResponseCache(path)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, w, 40)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    cache = ResponseCache(path)
    keys = [f"w{w}-{i}" for w in range(4) for i in range(40)]
    found = cache.get_many(keys)
    assert len(found) == 160 and all(found[k].text == k for k in keys)


def test_stats_and_clear(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    ScriptedLLM(echo, cache, model="one").generate([ChatRequest.of("a"), ChatRequest.of("b")])
    ScriptedLLM(echo, cache, model="two").generate([ChatRequest.of("a")])
    stats = cache.stats()
    assert stats.entries == 3 and stats.models == {"scripted:one": 2, "scripted:two": 1}
    assert cache.clear("scripted:one") == 2
    assert cache.stats().models == {"scripted:two": 1}
    assert cache.clear() == 1 and cache.stats().entries == 0


def test_cache_cli(tmp_path):
    from typer.testing import CliRunner

    from tailor.cli import app

    path = tmp_path / "c.sqlite"
    ScriptedLLM(echo, ResponseCache(path)).generate([ChatRequest.of("a")])
    runner = CliRunner()
    shown = runner.invoke(app, ["cache", "stats", "--path", str(path)])
    assert shown.exit_code == 0 and "1 cached completions" in shown.output and "scripted:script: 1" in shown.output
    cleared = runner.invoke(app, ["cache", "clear", "--path", str(path)])
    assert cleared.exit_code == 0 and "removed 1" in cleared.output
