"""Package data: the tiktoken encoding files (see ``aiguard._tokens._encodings``)."""
