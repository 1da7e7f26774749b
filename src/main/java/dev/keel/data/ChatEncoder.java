package dev.keel.data;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import dev.keel.KeelException;
import dev.keel.chat.ChatTemplate;
import dev.keel.tokenizer.Tokenizer;

/**
 * Encodes a conversation for SFT with the model's chat template, marking the assistant turns to learn (TRL's
 * {@code assistant_only_loss}). Each assistant turn's span is found by rendering the conversation up to it with
 * the generation prompt, and up to and including it without: the difference is the turn as the model must
 * produce it, end-of-turn tokens included. Text outside those spans (system, user, template markup) is not
 * learned. Each span is tokenized on its own, without added special tokens (the template writes its own), as
 * transformers tokenizes {@code apply_chat_template} output.
 */
public final class ChatEncoder implements SftData.ConversationEncoder {
    private final ChatTemplate template;
    private final Tokenizer tok;

    public ChatEncoder(ChatTemplate template, Tokenizer tok) {
        this.template = template;
        this.tok = tok;
    }

    /** The ids of a prompt-only conversation rendered with the generation prompt (for sampling). */
    public long[] prompt(List<Map<String, Object>> messages) {
        return tok.encode(template.render(messages, true, null), false);
    }

    @Override
    public List<SftData.Segment> encode(Jsonl.Line line) {
        List<Map<String, Object>> messages;
        try {
            messages = ChatTemplate.messagesFromJson(line.node().get("messages"));
        } catch (KeelException e) {
            throw line.error("messages", e.getMessage());
        }
        List<SftData.Segment> out = new ArrayList<>();
        int done = 0; // characters of the full rendering already turned into segments
        String full;
        try {
            full = template.render(messages, false, null);
            for (int i = 0; i < messages.size(); i++) {
                if (!"assistant".equals(messages.get(i).get("role"))) {
                    continue;
                }
                String before = template.render(messages.subList(0, i), true, null);
                String through = template.render(messages.subList(0, i + 1), false, null);
                if (!through.startsWith(before) || !full.startsWith(through) || before.length() < done) {
                    throw line.error("messages", "the chat template does not render turn " + i
                            + " as a continuation of the turns before it, so its tokens cannot be told apart");
                }
                add(out, full.substring(done, before.length()), false);
                add(out, full.substring(before.length(), through.length()), true);
                done = through.length();
            }
        } catch (KeelException e) {
            if (e.getMessage().startsWith(line.where())) {
                throw e;
            }
            throw line.error("messages", e.getMessage());
        }
        add(out, full.substring(done), false);
        return out;
    }

    private void add(List<SftData.Segment> out, String text, boolean learn) {
        if (!text.isEmpty()) {
            out.add(new SftData.Segment(tok.encode(text, false), learn));
        }
    }
}
