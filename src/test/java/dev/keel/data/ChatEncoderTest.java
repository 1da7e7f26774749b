package dev.keel.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.keel.KeelException;
import dev.keel.TinyModels;
import dev.keel.chat.ChatTemplate;
import dev.keel.tokenizer.Tokenizer;

class ChatEncoderTest {
    @TempDir
    Path tmp;

    static final String TEMPLATE = TinyModels.CHAT_TEMPLATE;

    private String learned(Tokenizer tok, List<SftData.Segment> segs, boolean learn) {
        StringBuilder sb = new StringBuilder();
        for (SftData.Segment s : segs) {
            if (s.learn() == learn) {
                sb.append(tok.decode(s.ids(), false)).append('|');
            }
        }
        return sb.toString();
    }

    @Test
    void onlyAssistantTurnsWithTheirEndOfTurnAreLearned() throws IOException {
        Path dir = TinyModels.llama(tmp.resolve("m"), 1);
        Path f = tmp.resolve("chat.jsonl");
        Files.writeString(f, "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
                + "{\"role\": \"user\", \"content\": \"The movie?\"}, {\"role\": \"assistant\", \"content\": \"It was great.\"}, "
                + "{\"role\": \"user\", \"content\": \"The food?\"}, {\"role\": \"assistant\", \"content\": \"It was bad.\"}]}\n");
        try (Tokenizer tok = Tokenizer.load(dir)) {
            ChatEncoder enc = new ChatEncoder(ChatTemplate.of(TEMPLATE, ChatTemplate.specialTokens(tok.config())), tok);
            List<SftData.Segment> segs = enc.encode(Jsonl.read(f).get(0));
            // rendering: E system: Be brief.\n E user: The movie?\n E assistant: [It was great.\n] E user: ... [It was bad.\n]
            assertEquals("It was great.\n|It was bad.\n|", learned(tok, segs, true));
            assertEquals("<|endoftext|>system: Be brief.\n<|endoftext|>user: The movie?\n<|endoftext|>assistant: |"
                    + "<|endoftext|>user: The food?\n<|endoftext|>assistant: |", learned(tok, segs, false));
        }
    }

    @Test
    void aTemplateThatRewritesEarlierTurnsIsRefusedWithTheLine() throws IOException {
        Path dir = TinyModels.llama(tmp.resolve("m"), 1);
        Path f = tmp.resolve("chat.jsonl");
        Files.writeString(f, "\n{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}\n");
        // prints the number of messages first, so a longer conversation changes the start of the text
        String bad = "{{ messages|length }}{% for m in messages %}{{ m.content }}{% endfor %}";
        try (Tokenizer tok = Tokenizer.load(dir)) {
            ChatEncoder enc = new ChatEncoder(ChatTemplate.of(bad, ChatTemplate.specialTokens(tok.config())), tok);
            KeelException e = assertThrows(KeelException.class, () -> enc.encode(Jsonl.read(f).get(0)));
            assertTrue(e.getMessage().contains(f + ":2") && e.getMessage().contains("'messages'"), e.getMessage());
        }
    }
}
