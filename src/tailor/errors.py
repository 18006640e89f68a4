"""Errors that users see: each names what to fix."""


class TailorError(Exception):
    """Base class for errors with a message meant for the user."""


class DataError(TailorError):
    """A dataset record is malformed; names the file, the record and the field."""

    def __init__(self, source: str, record: str | int | None, field: str, problem: str):
        self.source, self.record, self.field, self.problem = source, record, field, problem
        where = f"{source}: record {record!r}" if record is not None else source
        super().__init__(f"{where}: field '{field}': {problem}")


class ModelNotFound(TailorError):
    """A model name could not be resolved to weights on this machine."""


class BackendError(TailorError):
    """An LLM backend cannot do what was asked (e.g. logprobs it does not expose)."""


class PromptTooLong(BackendError):
    """A prompt and its answer budget exceed the model's context length: the example is
    skipped and counted, never a reason to stop a run."""

    def __init__(self, prompt_tokens: int | None, max_tokens: int, context_length: int, detail: str = ""):
        self.prompt_tokens, self.max_tokens, self.context_length = prompt_tokens, max_tokens, context_length
        counted = f"{prompt_tokens} prompt tokens" if prompt_tokens is not None else "the prompt"
        super().__init__(f"{counted} + max_tokens {max_tokens} exceed the model's context length {context_length}" + (f": {detail}" if detail else ""))
