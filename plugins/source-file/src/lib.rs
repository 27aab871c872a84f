//! File source: the canonical topology in a TOML or YAML file, watched for changes
