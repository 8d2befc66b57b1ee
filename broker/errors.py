"""The one error hierarchy of Redcurrent, shared by the engine, the SDK and the server.

Every error a user can cause carries the AWS error code that SQS/SNS/Kinesis would send,
its HTTP status, and whether a retry can help. The server renders these; the SDK raises
them; ``from_code()`` turns a wire error back into the same class.

::

    BrokerError
    ├── ClientError                         (4xx: the request was wrong)
    │   ├── InvalidParameterValue
    │   ├── MissingParameter
    │   ├── InvalidAttributeName
    │   ├── InvalidAttributeValue
    │   ├── InvalidMessageContents
    │   ├── QueueDoesNotExist
    │   ├── QueueNameExists
    │   ├── QueueDeletedRecently
    │   ├── ReceiptHandleIsInvalid
    │   ├── MessageNotInflight
    │   ├── PurgeQueueInProgress
    │   ├── OverLimit
    │   ├── EmptyBatchRequest
    │   ├── TooManyEntriesInBatchRequest
    │   ├── BatchEntryIdsNotDistinct
    │   ├── InvalidBatchEntryId
    │   ├── BatchRequestTooLong
    │   ├── UnsupportedOperation
    │   ├── InvalidAddress
    │   ├── ResourceNotFoundException
    │   ├── InvalidAction, MissingAction, UnknownOperationException,
    │   │   MalformedQueryString, SerializationException, RequestEntityTooLarge
    │   ├── MissingAuthenticationToken, InvalidClientTokenId, SignatureDoesNotMatch,
    │   │   IncompleteSignature, RequestExpired, AccessDenied
    │   ├── RequestTimeout
    │   ├── ThrottlingException
    │   ├── Kinesis: InvalidArgumentException, ResourceInUseException,
    │   │   LimitExceededException, ExpiredIteratorException, ValidationException,
    │   │   ProvisionedThroughputExceededException (retriable), and
    │   │   ResourceNotFoundException above
    │   └── SNS: InvalidParameter, ParameterValueInvalid, NotFound, AuthorizationError,
    │       FilterPolicyLimitExceeded, SubscriptionLimitExceeded, TopicLimitExceeded,
    │       TagLimitExceeded, ResourceNotFound
    └── ServiceError                        (5xx: our side failed; retriable)
        └── ServiceUnavailable
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ValidationException",
    "ResourceInUseException",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "InvalidArgumentException",
    "ExpiredIteratorException",
    "AccessDenied",
    "AuthorizationError",
    "BatchEntryIdsNotDistinct",
    "BatchRequestTooLong",
    "BrokerError",
    "ClientError",
    "EmptyBatchRequest",
    "FilterPolicyLimitExceeded",
    "IncompleteSignature",
    "InvalidAction",
    "InvalidAddress",
    "InvalidAttributeName",
    "InvalidAttributeValue",
    "InvalidBatchEntryId",
    "InvalidClientTokenId",
    "InvalidMessageContents",
    "InvalidParameter",
    "InvalidParameterValue",
    "MalformedQueryString",
    "MessageNotInflight",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    "NotFound",
    "OverLimit",
    "ParameterValueInvalid",
    "PurgeQueueInProgress",
    "QueueDeletedRecently",
    "QueueDoesNotExist",
    "QueueNameExists",
    "ReceiptHandleIsInvalid",
    "RequestEntityTooLarge",
    "RequestExpired",
    "ResourceNotFound",
    "ResourceNotFoundException",
    "SerializationException",
    "ServiceError",
    "ServiceUnavailable",
    "SignatureDoesNotMatch",
    "SubscriptionLimitExceeded",
    "TagLimitExceeded",
    "RequestTimeout",
    "ThrottlingException",
    "TooManyEntriesInBatchRequest",
    "TopicLimitExceeded",
    "UnknownOperationException",
    "UnsupportedOperation",
    "from_code",
]


class BrokerError(Exception):
    """Root of every Redcurrent error.

    Attributes:
        code: the AWS error code (the JSON protocol's shape name, e.g. ``QueueDoesNotExist``).
        query_code: the code the SQS query protocol sends (e.g.
            ``AWS.SimpleQueueService.NonExistentQueue``); boto3 reports this one.
        http_status: the HTTP status the server answers with.
        retriable: whether the same request may succeed later.
        sender_fault: ``True`` when the caller's request was at fault.
    """

    code: ClassVar[str] = "InternalFailure"
    query_code: ClassVar[str] = ""
    http_status: ClassVar[int] = 500
    retriable: ClassVar[bool] = False
    sender_fault: ClassVar[bool] = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    @classmethod
    def wire_code(cls) -> str:
        """The code boto3 shows to users (the query-protocol code when there is one)."""
        return cls.query_code or cls.code

    def __str__(self) -> str:
        return f"{self.wire_code()}: {self.message}" if self.message else self.wire_code()


class ClientError(BrokerError):
    """The request was wrong; sending it again unchanged will fail again."""

    code = "InvalidRequest"
    http_status = 400
    sender_fault = True


class ServiceError(BrokerError):
    """Redcurrent or its Redis failed; the request may succeed if retried."""

    code = "InternalFailure"
    http_status = 500
    retriable = True


class ServiceUnavailable(ServiceError):
    code = "ServiceUnavailable"
    http_status = 503


class InvalidParameterValue(ClientError):
    code = "InvalidParameterValue"


class MissingParameter(ClientError):
    code = "MissingParameter"


class InvalidAttributeName(ClientError):
    code = "InvalidAttributeName"


class InvalidAttributeValue(ClientError):
    code = "InvalidAttributeValue"


class InvalidMessageContents(ClientError):
    code = "InvalidMessageContents"


class QueueDoesNotExist(ClientError):
    code = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"


class QueueNameExists(ClientError):
    code = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class QueueDeletedRecently(ClientError):
    code = "QueueDeletedRecently"
    query_code = "AWS.SimpleQueueService.QueueDeletedRecently"


class ReceiptHandleIsInvalid(ClientError):
    code = "ReceiptHandleIsInvalid"


class MessageNotInflight(ClientError):
    code = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"


class PurgeQueueInProgress(ClientError):
    code = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"
    http_status = 403


class OverLimit(ClientError):
    code = "OverLimit"
    http_status = 403
    retriable = True


class EmptyBatchRequest(ClientError):
    code = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class TooManyEntriesInBatchRequest(ClientError):
    code = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(ClientError):
    code = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class InvalidBatchEntryId(ClientError):
    code = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"


class BatchRequestTooLong(ClientError):
    code = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class UnsupportedOperation(ClientError):
    code = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


class ResourceNotFoundException(ClientError):
    code = "ResourceNotFoundException"
    http_status = 404


class InvalidAddress(ClientError):
    code = "InvalidAddress"


# -- request-level errors (protocol, authentication), common to every AWS service -------


class InvalidAction(ClientError):
    code = "InvalidAction"


class MissingAction(ClientError):
    code = "MissingAction"


class UnknownOperationException(ClientError):
    code = "UnknownOperationException"


class MalformedQueryString(ClientError):
    code = "MalformedQueryString"
    http_status = 404


class SerializationException(ClientError):
    code = "SerializationException"


class RequestEntityTooLarge(ClientError):
    code = "RequestEntityTooLarge"
    http_status = 413


class MissingAuthenticationToken(ClientError):
    code = "MissingAuthenticationToken"
    http_status = 403


class InvalidClientTokenId(ClientError):
    code = "InvalidClientTokenId"
    http_status = 403


class SignatureDoesNotMatch(ClientError):
    code = "SignatureDoesNotMatch"
    http_status = 403


class IncompleteSignature(ClientError):
    code = "IncompleteSignature"


class RequestExpired(ClientError):
    code = "RequestExpired"


class AccessDenied(ClientError):
    code = "AccessDenied"
    http_status = 403


class ThrottlingException(ClientError):
    code = "ThrottlingException"
    retriable = True


class RequestTimeout(ClientError):
    """The request body did not arrive in time (the connection is closed)."""

    code = "RequestTimeout"
    http_status = 408
    retriable = True


# -- SNS (its query protocol sends these codes as they are) ----------------------------


class InvalidParameter(ClientError):
    code = "InvalidParameter"


class ParameterValueInvalid(ClientError):
    code = "ParameterValueInvalid"


class NotFound(ClientError):
    code = "NotFound"
    http_status = 404


class AuthorizationError(ClientError):
    code = "AuthorizationError"
    http_status = 403


class FilterPolicyLimitExceeded(ClientError):
    code = "FilterPolicyLimitExceeded"
    http_status = 403


class SubscriptionLimitExceeded(ClientError):
    code = "SubscriptionLimitExceeded"
    http_status = 403


class TopicLimitExceeded(ClientError):
    code = "TopicLimitExceeded"
    http_status = 403


class TagLimitExceeded(ClientError):
    code = "TagLimitExceeded"


class ResourceNotFound(ClientError):
    code = "ResourceNotFound"
    http_status = 404


def _all_subclasses(cls: type[BrokerError]) -> list[type[BrokerError]]:
    out: list[type[BrokerError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


class InvalidArgumentException(ClientError):
    code = "InvalidArgumentException"


class ResourceInUseException(ClientError):
    code = "ResourceInUseException"


class LimitExceededException(ClientError):
    code = "LimitExceededException"


class ExpiredIteratorException(ClientError):
    code = "ExpiredIteratorException"


class ValidationException(ClientError):
    code = "ValidationException"


class ProvisionedThroughputExceededException(ClientError):
    code = "ProvisionedThroughputExceededException"
    retriable = True


def from_code(code: str, message: str = "") -> BrokerError:
    """Build the error class that matches a wire code (JSON shape name or query code).

    An unknown code becomes a plain ``ClientError``/``ServiceError`` carrying the message.
    """
    for cls in _all_subclasses(BrokerError):
        if code in (cls.code, cls.query_code):
            return cls(message)
    return ClientError(f"{code}: {message}")
