import logging

from core.background import BackgroundThread


def test_background_work_that_fails_is_logged_and_the_work_after_it_runs(caplog):
    thread = BackgroundThread("test-background")
    done = []

    def fails():
        raise RuntimeError("the database went away")

    with caplog.at_level(logging.ERROR, logger="core.background"):
        thread.submit(fails).result()
        thread.submit(done.append, "next").result()

    assert "Background work failed" in caplog.text
    assert "the database went away" in caplog.text
    assert done == ["next"]
