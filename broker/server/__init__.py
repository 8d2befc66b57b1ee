"""The HTTP front end: AWS wire protocols (SQS, SNS, Kinesis) over the engine."""
