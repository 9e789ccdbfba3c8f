MAX_SCHEMA_BYTES: int
MAX_SCHEMA_DEPTH: int

def json_schema_to_grammar(schema: str) -> str: ...
