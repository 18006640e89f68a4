"""The one progress bar of a training stage, in place of the Trainer's tqdm bar and the
dictionaries it prints at every logging step (those go to the run log)."""

import contextlib
import logging

from transformers import TrainerCallback

from tailor import progress

log = logging.getLogger(__name__)


class StepBar(TrainerCallback):
    """Optimizer steps done out of ``max_steps``, with the last training loss; each log
    entry also goes to the run log. Only the main process shows the bar."""

    def __init__(self, description: str):
        self.description = description
        self.stack = contextlib.ExitStack()
        self.advance = None
        self.loss = ""

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.advance = self.stack.enter_context(progress.bar(self.description, state.max_steps))
            if state.global_step:  # resumed from a checkpoint
                self.advance(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.advance is not None:
            self.advance(1, self.loss)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            log.info("%s step %d: %s", self.description, state.global_step, logs)
            if "loss" in logs:
                self.loss = f"loss {logs['loss']:.4f}"

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        self.stack.close()
        self.advance = None
