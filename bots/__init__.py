"""Bot engines (AWS Lex, IBM Watson Assistant) and their daily API-call caps."""
