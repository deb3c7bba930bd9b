/* vocab_files.h — reading a vocabulary from a folder of Hugging Face or OpenAI files. */
#ifndef G2R_VOCAB_FILES_H
#define G2R_VOCAB_FILES_H

#include "tokenizer/vocab.h"

/* Fills t from dir: vocab.json + merges.txt, encoder.json + vocab.bpe, or
 * tokenizer.json, the first pair found in that order. */
g2r_status g2r_vocab_load_dir(g2r_tokenizer *t, const char *dir, g2r_error *err);

#endif
