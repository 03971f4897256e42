"""Work with a model in a prewarmed child process, polled like a thread (`ProcessJob`)."""

import os
import signal

import pytest

from kgen.errors import KgenError
from kgen.services.jobs import ProcessJob

TIMEOUT_S = 120.0


def test_the_result_comes_back_from_another_process():
    job = ProcessJob("os:getpid").start()
    assert job.wait(TIMEOUT_S) and job.done and job.error is None
    assert job.result() == job.pid != os.getpid()


def test_an_error_is_one_line_and_raised_as_a_kgen_error():
    job = ProcessJob("math:sqrt", -1.0).start()
    assert job.wait(TIMEOUT_S) and job.error == "ValueError: math domain error"
    with pytest.raises(KgenError, match="math domain error"):
        job.result()


def test_a_killed_child_is_a_one_line_error():
    job = ProcessJob("time:sleep", 600).start()
    assert not job.done
    os.kill(job.pid, signal.SIGKILL)
    assert job.wait(TIMEOUT_S)
    assert "SIGKILL" in job.error and "\n" not in job.error
