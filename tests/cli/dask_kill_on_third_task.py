"""A ``dask worker --preload`` for the cluster tests: the worker kills itself as its third task starts.

SIGKILL, as the kernel's out-of-memory killer or a lost node would: no clean-up, no goodbye to
the scheduler, which must notice the loss and give the task to another worker.
"""

from __future__ import annotations

import os
import signal

#: The task the worker dies on (the first two run normally).
DIE_ON = 3


async def dask_setup(worker) -> None:
    from distributed import WorkerPlugin

    class DieOnATask(WorkerPlugin):
        def __init__(self):
            self.started = 0

        def transition(self, key, start, finish, **kwargs):
            if finish == "executing":
                self.started += 1
                if self.started == DIE_ON:
                    os.kill(os.getpid(), signal.SIGKILL)

    await worker.plugin_add(DieOnATask(), name="die-on-a-task")
