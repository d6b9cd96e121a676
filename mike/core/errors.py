"""Domain exceptions that carry more than their message."""


def _restore(cls, args, state):
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class DomainError(Exception):
    """An exception whose `__init__` takes what it is about (a reward, an account, …) rather than
    its message. Python pickles an exception as `cls(*self.args)`, which would call such an
    `__init__` with the message alone and fail; these pickle their message and attributes instead,
    so they survive a trip between processes (a multiprocessing pool, a task result)."""

    def __reduce__(self):
        return (_restore, (type(self), self.args, self.__dict__))
