/* chat.h: turning a conversation into the prompt a chat model was trained on, for the template
 * families quire knows, and into token ids without letting message text inject control tokens.
 *
 * quire does not run Jinja. It recognises the family of a model's tokenizer.chat_template and
 * renders that family's format in C, byte for byte what Hugging Face's apply_chat_template()
 * gives with the real template (tests/t-chat.c checks this against jinja2 output):
 *
 *   CHATML   <|im_start|>role\ncontent<|im_end|>\n ... (SmolLM2, Qwen2). A default system
 *            message that the template inserts when the first message is not a system one is
 *            taken from the template's own string literal.
 *   LLAMA3   <|begin_of_text|> then <|start_header_id|>role<|end_header_id|>\n\n content
 *            stripped <|eot_id|> per message.
 *   LLAMA2   <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...
 *   MISTRAL  <s> [INST] system\n\nuser [/INST] answer</s> [INST] ... (Mistral-7B-Instruct-v0.2)
 *   PHI3     <|system|>\n...<|end|>\n<|user|>\n...<|end|>\n<|assistant|>\n
 *   GEMMA    <bos><start_of_turn>user\nsystem\n\nuser stripped<end_of_turn>\n<start_of_turn>model\n
 *
 * Where the real template calls raise_exception() (roles that do not alternate, a system message
 * where it allows none, an empty conversation it indexes into), rendering fails with the
 * template's message. "Stripped" is Python's str.strip(): Unicode whitespace, as jinja's trim.
 *
 * A rendering is a list of pieces, each template text or message content. chat_tokenize() lets
 * control-token strings count only inside template text: a book that contains "<|im_end|>"
 * stays plain text. */
#ifndef QUIRE_ENGINE_CHAT_H
#define QUIRE_ENGINE_CHAT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct gguf_file;
struct tokenizer;
struct chat_template;   /* opaque */

enum chat_family {
	CHAT_CHATML = 0,
	CHAT_LLAMA3,
	CHAT_LLAMA2,
	CHAT_MISTRAL,
	CHAT_PHI3,
	CHAT_GEMMA
};

enum chat_role {
	CHAT_ROLE_SYSTEM = 0,
	CHAT_ROLE_USER,
	CHAT_ROLE_ASSISTANT
};

struct chat_message {
	enum chat_role role;
	const char *content;        /* bytes, not necessarily NUL-terminated */
	size_t len;                 /* length of content */
};

enum chat_piece_kind {
	CHAT_PIECE_TEMPLATE = 0,    /* the template's own text: control tokens are parsed in it */
	CHAT_PIECE_CONTENT          /* message text: tokenized as plain text */
};

struct chat_piece {
	enum chat_piece_kind kind;
	size_t off;                 /* start in chat_rendering.text */
	size_t len;                 /* bytes; never 0 */
};

/* The rendered prompt and how it divides into pieces (in order, covering text exactly, with no
 * two neighbours of the same kind). Zero-initialise, then chat_rendering_free(). */
struct chat_rendering {
	struct buf text;            /* the whole prompt */
	struct chat_piece *pieces;
	size_t n_pieces;
	size_t cap_pieces;          /* allocated entries of pieces */
};

/* "chatml", "llama3", "llama2", "mistral", "phi3", "gemma". */
const char *chat_family_name(enum chat_family f);
/* "system", "user", "assistant"; chat_role_parse() is 0 on success, -1 for another name. */
const char *chat_role_name(enum chat_role r);
int chat_role_parse(const char *name, enum chat_role *out);

/* The family of a Jinja chat template (tmpl[0, len); NULL means absent). *known is set to 1 when
 * a family's markers were found, 0 when the answer is the ChatML fallback. */
enum chat_family chat_detect(const char *tmpl, size_t len, int *known);

/* Build a template from its Jinja text (NULL = the model has none) and the model's BOS and EOS
 * token texts (NULL or "" for none), as the template's bos_token/eos_token see them. Never
 * fails: an unknown or absent template becomes ChatML, and *warning (when warning is not NULL)
 * gets a malloc'd message the caller may show, else NULL. */
struct chat_template *chat_template_new(const char *tmpl, size_t len, const char *bos_text,
    const char *eos_text, char **warning);

/* The same from a model file: tokenizer.chat_template, and BOS/EOS texts from tok. 0, or -1 with
 * *err when the key exists with a type other than string. */
int chat_template_from_gguf(const struct gguf_file *f, const struct tokenizer *tok,
    struct chat_template **out, char **warning, char **err);
void chat_template_free(struct chat_template *t);   /* NULL is fine */

enum chat_family chat_template_family(const struct chat_template *t);
/* The system text a ChatML template inserts when the conversation does not start with a system
 * message (e.g. SmolLM2's "You are a helpful AI assistant named SmolLM, ..."), or NULL. */
const char *chat_template_default_system(const struct chat_template *t, size_t *len);

/* Render msgs[0, n) and, with add_generation_prompt, the opening of the assistant's turn.
 * out must be zero-initialised or reused (it is reset first). 0, or -1 with *err (the
 * template's own raise_exception() message, or an invalid role). */
int chat_render(const struct chat_template *t, const struct chat_message *msgs, size_t n,
    int add_generation_prompt, struct chat_rendering *out, char **err);
void chat_rendering_free(struct chat_rendering *r);

/* The rendering as one malloc'd NUL-terminated string (*len bytes; content may hold NULs), or
 * NULL with *err. */
char *chat_render_string(const struct chat_template *t, const struct chat_message *msgs,
    size_t n, int add_generation_prompt, size_t *len, char **err);

/* Token ids of the rendered conversation, as llama.cpp would tokenize the prompt with special
 * tokens parsed, except that control tokens are recognised only in template text: the text
 * between two control tokens (template and content together) is tokenized as one plain-text
 * fragment. BOS: a template that writes bos_token gives it as text (parsed to the BOS id);
 * otherwise BOS is put first only when the tokenizer asks for it (tokenizer.ggml.add_bos_token).
 * *ids is malloc'd (never NULL on success). 0, or -1 with *err. */
int chat_tokenize(const struct chat_template *t, struct tokenizer *tok,
    const struct chat_message *msgs, size_t n, int add_generation_prompt, int32_t **ids,
    size_t *n_ids, char **err);

#endif
