"""Redcurrent workers: the worker framework (``App``, ``Worker``, ``workers run``) and the
KCL-style stream consumer (``workers.kcl``). Built only on the public SDK (``broker.sdk``);
importing runs nothing.
"""

from workers.app import App
from workers.middleware import HandlerContext, Middleware
from workers.notification import Notification
from workers.retry import RetryPolicy
from workers.worker import Worker

__all__ = ["App", "HandlerContext", "Middleware", "Notification", "RetryPolicy", "Worker"]
