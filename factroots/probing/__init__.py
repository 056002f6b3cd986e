"""mLAMA facts and templates, prompts, and masked-LM prediction."""
