from .lower import lower_function, get_user_function  # noqa: F401
