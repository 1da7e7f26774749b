package dev.keel.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import dev.keel.tokenizer.Tokenizer;

/** The loss masks SFT builds, as tables: 1 marks a token the model learns to predict. */
class SftDataTest {
    @TempDir
    Path tmp;

    private Path file(String content) throws IOException {
        Path f = tmp.resolve("d" + System.nanoTime() + ".jsonl");
        Files.writeString(f, content);
        return f;
    }

    private SftData.Result read(String content, int maxLength, Truncation t, boolean packing) throws IOException {
        return SftData.read(file(content), null, 100, maxLength, t, packing, null);
    }

    @Test
    void promptCompletionIdsLearnOnlyTheCompletion() throws IOException {
        // ids:  5  6 | 7  8  9     prompt | completion
        // mask: 0  0 | 1  1  1
        LmExample e = read("{\"prompt_ids\": [5, 6], \"completion_ids\": [7, 8, 9]}\n", 16, Truncation.KEEP_START, false)
                .examples().get(0);
        assertArrayEquals(new long[] {5, 6, 7, 8, 9}, e.ids());
        assertArrayEquals(new long[] {0, 0, 1, 1, 1}, e.lossMask());
        assertEquals(3, e.countedTokens());
    }

    @Test
    void inputIdsLearnEveryToken() throws IOException {
        LmExample e = read("{\"input_ids\": [1, 2, 3]}\n", 16, Truncation.KEEP_START, false).examples().get(0);
        assertArrayEquals(new long[] {1, 1, 1}, e.lossMask());
        assertEquals(2, e.countedTokens(), "the first token is never predicted");
    }

    @Test
    void keepStartCutsToMaxLengthAndCountsTheRecord() throws IOException {
        // ids:  5  6  7  8 | 9 cut       mask: 0  0  1  1
        SftData.Result r = read("{\"prompt_ids\": [5, 6], \"completion_ids\": [7, 8, 9]}\n"
                + "{\"prompt_ids\": [1], \"completion_ids\": [2]}\n", 4, Truncation.KEEP_START, false);
        assertEquals(1, r.truncated());
        assertArrayEquals(new long[] {5, 6, 7, 8}, r.examples().get(0).ids());
        assertArrayEquals(new long[] {0, 0, 1, 1}, r.examples().get(0).lossMask());
    }

    @Test
    void truncationErrorNamesFileAndLine() throws IOException {
        Path f = file("{\"prompt_ids\": [1], \"completion_ids\": [2]}\n{\"prompt_ids\": [5, 6], \"completion_ids\": [7, 8, 9]}\n");
        KeelException e = assertThrows(KeelException.class,
                () -> SftData.read(f, null, 100, 4, Truncation.ERROR, false, null));
        assertTrue(e.getMessage().contains(f + ":2") && e.getMessage().contains("--max-length 4"), e.getMessage());
    }

    @Test
    void aCompletionCutAwayEntirelyIsAnError() throws IOException {
        Path f = file("{\"prompt_ids\": [1, 2, 3, 4], \"completion_ids\": [5]}\n");
        KeelException e = assertThrows(KeelException.class,
                () -> SftData.read(f, null, 100, 4, Truncation.KEEP_START, false, null));
        assertTrue(e.getMessage().contains(f + ":1") && e.getMessage().contains("nothing to learn"), e.getMessage());
    }

    @Test
    void textRecordsGetBosAndEosAndLearnEverything() throws IOException {
        try (Tokenizer tok = Tokenizer.load(TinyModels.llama(tmp.resolve("m"), 1))) {
            long[] body = tok.encode("The movie was great.", false);
            LmExample e = SftData.read(file("{\"text\": \"The movie was great.\"}\n"), tok, 1000, 64,
                    Truncation.KEEP_START, false, null).examples().get(0);
            // ids: BOS, body..., EOS   mask: all 1
            assertEquals(body.length + 2, e.ids().length);
            assertEquals(0, e.ids()[0]);
            assertEquals(0, e.ids()[e.ids().length - 1]);
            for (long m : e.lossMask()) {
                assertEquals(1, m);
            }
        }
    }

    @Test
    void textPromptAndCompletionAreTokenizedApartWithEosOnTheCompletion() throws IOException {
        try (Tokenizer tok = Tokenizer.load(TinyModels.llama(tmp.resolve("m"), 1))) {
            long[] p = tok.encode("The movie", true);
            long[] c = tok.encode(" was great.", false);
            LmExample e = SftData.read(file("{\"prompt\": \"The movie\", \"completion\": \" was great.\"}\n"), tok, 1000, 64,
                    Truncation.KEEP_START, false, null).examples().get(0);
            // mask: 0 for every prompt token (BOS included), 1 for the completion and its EOS
            assertEquals(p.length + c.length + 1, e.ids().length);
            for (int i = 0; i < e.ids().length; i++) {
                assertEquals(i < p.length ? 0 : 1, e.lossMask()[i], "position " + i);
            }
        }
    }

    @Test
    void packingJoinsTextsAndCutsBlocks() {
        // texts [1 2 3] [4 5] [6 7 8 9] joined: 1..9, blocks of 4: [1 2 3 4] [5 6 7 8] [9] (dropped: < 2 tokens)
        List<LmExample> b = SftData.pack(List.of(new long[] {1, 2, 3}, new long[] {4, 5}, new long[] {6, 7, 8, 9}), 4);
        assertEquals(2, b.size());
        assertArrayEquals(new long[] {5, 6, 7, 8}, b.get(1).ids());
    }

    @Test
    void aRecordWithNoKnownFieldIsNamed() throws IOException {
        Path f = file("{\"question\": \"hi\"}\n");
        KeelException e = assertThrows(KeelException.class,
                () -> SftData.read(f, null, 100, 8, Truncation.KEEP_START, false, null));
        assertTrue(e.getMessage().contains(f + ":1") && e.getMessage().contains("no known fields"), e.getMessage());
    }

    @Test
    void anEmptyCompletionIsNamed() throws IOException {
        try (Tokenizer tok = Tokenizer.load(TinyModels.llama(tmp.resolve("m"), 1))) {
            Path f = file("{\"prompt\": \"The movie\", \"completion\": \"\"}\n");
            KeelException e = assertThrows(KeelException.class,
                    () -> SftData.read(f, tok, 1000, 64, Truncation.KEEP_START, false, null));
            assertTrue(e.getMessage().contains(f + ":1") && e.getMessage().contains("'completion'")
                    && e.getMessage().contains("empty"), e.getMessage());
        }
    }
}
