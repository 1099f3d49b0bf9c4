"""core.lru: the per-process caches keep their most recently used entries."""

from core.lru import Lru


def test_the_least_recently_used_entry_goes_first():
    cache = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3)

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_a_size_read_from_a_function_applies_at_the_next_put():
    size = {"now": 3}
    cache = Lru(lambda: size["now"])
    for key in "abc":
        cache.put(key, key)
    size["now"] = 1
    cache.put("d", "d")

    assert [cache.get(key) for key in "abcd"] == [None, None, None, "d"]


def test_pop_and_clear_forget():
    cache = Lru(5)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.pop("a")
    cache.pop("missing")
    assert (cache.get("a"), cache.get("b")) == (None, 2)
    cache.clear()
    assert cache.get("b") is None and len(cache) == 0


def test_entries_weighing_more_than_the_size_push_the_oldest_out():
    cache = Lru(10, weight=len)
    cache.put("a", "xxxx")
    cache.put("b", "xxxx")
    assert cache.peek("a") == "xxxx"  # a peek leaves "a" the least recently used
    cache.put("c", "xxxx")
    assert [cache.peek(key) for key in "abc"] == [None, "xxxx", "xxxx"]

    cache.put("b", "xx")  # a key put again weighs its new value only: 6 in all
    cache.put("d", "xxxx")
    assert [cache.peek(key) for key in "bcd"] == ["xx", "xxxx", "xxxx"]
