package dev.keel.reward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class VaderTest {
    private static final Vader VADER = Vader.load();

    /**
     * The example output of the reference README (cjhutto/vaderSentiment README.rst, "Output for the above
     * example code"): text, neg, neu, pos, compound. Its emoji line is left out (emoji are not translated here).
     * NaN proportions are not checked: the README's neu/pos for "At least it isn't a horrible book." come from
     * an older tokenizer that dropped one-letter words ("a"); see
     * {@link #proportionsCountOneLetterWordsAsNeutralAsTheCurrentReferenceDoes()}.
     */
    static Stream<Arguments> referenceExamples() {
        return Stream.of(
                Arguments.of("VADER is smart, handsome, and funny.", 0.0, 0.254, 0.746, 0.8316),
                Arguments.of("VADER is smart, handsome, and funny!", 0.0, 0.248, 0.752, 0.8439),
                Arguments.of("VADER is very smart, handsome, and funny.", 0.0, 0.299, 0.701, 0.8545),
                Arguments.of("VADER is VERY SMART, handsome, and FUNNY.", 0.0, 0.246, 0.754, 0.9227),
                Arguments.of("VADER is VERY SMART, handsome, and FUNNY!!!", 0.0, 0.233, 0.767, 0.9342),
                Arguments.of("VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", 0.0, 0.294, 0.706, 0.9469),
                Arguments.of("VADER is not smart, handsome, nor funny.", 0.646, 0.354, 0.0, -0.7424),
                Arguments.of("The book was good.", 0.0, 0.508, 0.492, 0.4404),
                Arguments.of("At least it isn't a horrible book.", Double.NaN, Double.NaN, Double.NaN, 0.431),
                Arguments.of("The book was only kind of good.", 0.0, 0.697, 0.303, 0.3832),
                Arguments.of("The plot was good, but the characters are uncompelling and the dialog is not great.",
                        0.327, 0.579, 0.094, -0.7042),
                Arguments.of("Today SUX!", 0.779, 0.221, 0.0, -0.5461),
                Arguments.of("Today only kinda sux! But I'll get by, lol", 0.127, 0.556, 0.317, 0.5249),
                Arguments.of("Make sure you :) or :D today!", 0.0, 0.294, 0.706, 0.8633),
                Arguments.of("Not bad at all", 0.0, 0.513, 0.487, 0.431));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("referenceExamples")
    void reproducesTheReferenceReadmeOutput(String text, double neg, double neu, double pos, double compound) {
        Vader.Scores s = VADER.polarity(text);
        assertEquals(compound, s.compound(), 1e-4, "compound");
        if (Double.isNaN(neg)) {
            return;
        }
        Vader.Scores r = s.rounded();
        assertEquals(neg, r.neg(), 1e-9, "neg");
        assertEquals(neu, r.neu(), 1e-9, "neu");
        assertEquals(pos, r.pos(), 1e-9, "pos");
    }

    @Test
    void proportionsCountOneLetterWordsAsNeutralAsTheCurrentReferenceDoes() {
        // At least it isn't a horrible book: horrible −2.5 negated by isn't → 1.85, six words at 0
        // pos = (1.85 + 1) / (2.85 + 6) = 0.322034, neu = 6 / 8.85 = 0.677966 (README, without "a": 0.363, 0.637)
        Vader.Scores s = VADER.polarity("At least it isn't a horrible book.");
        assertEquals(0.322034, s.pos(), 1e-6);
        assertEquals(0.677966, s.neu(), 1e-6);
        assertEquals(0, s.neg());
    }

    @Test
    void aSingleLexiconWordIsItsValenceNormalised() {
        // good = 1.9: 1.9 / sqrt(1.9² + 15) = 1.9 / sqrt(18.61) = 1.9 / 4.313931 = 0.440434
        assertEquals(0.440434, VADER.polarity("good").compound(), 1e-6);
        // one positive word: pos = (1.9 + 1) / (1.9 + 1) = 1
        assertEquals(1.0, VADER.polarity("good").pos(), 1e-12);
    }

    @Test
    void aNegatorScalesTheNextWordByMinusPoint74() {
        // not good: 1.9 · −0.74 = −1.406; −1.406 / sqrt(1.406² + 15) = −1.406 / 4.120296 = −0.341238
        assertEquals(-0.341238, VADER.polarity("not good").compound(), 1e-6);
    }

    @Test
    void capitalsAddEmphasisOnlyWhenTheTextMixesCase() {
        // all caps throughout: no emphasis, same as "good"
        assertEquals(0.440434, VADER.polarity("GOOD").compound(), 1e-6);
        // GOOD book: 1.9 + 0.733 = 2.633; 2.633 / sqrt(2.633² + 15) = 2.633 / 4.683235 = 0.562218
        assertEquals(0.562218, VADER.polarity("GOOD book").compound(), 1e-6);
    }

    @Test
    void exclamationMarksCountUpToFourAndQuestionMarksFromTwo() {
        assertEquals(0.292, Vader.punctuationEmphasis("good!"), 1e-12);
        assertEquals(4 * 0.292, Vader.punctuationEmphasis("good!!!!!!"), 1e-12);
        assertEquals(0, Vader.punctuationEmphasis("good?"), 1e-12);
        assertEquals(3 * 0.18, Vader.punctuationEmphasis("good???"), 1e-12);
        assertEquals(0.96, Vader.punctuationEmphasis("good????"), 1e-12);
    }

    @Test
    void butHalvesWhatComesBeforeAndRaisesWhatComesAfterByHalf() {
        double[] s = {1.9, 0, -2.5};
        Vader.butCheck(List.of("good", "but", "bad"), s);
        assertArrayEquals(new double[] {0.95, 0, -3.75}, s, 1e-12);
    }

    @Test
    void butScalesTheFirstEqualValueAsTheReferenceDoes() {
        // Python's sentiments.index(x): after 3.8 → 1.9 at position 0, the 1.9 at position 2 is found at 0
        // (1.9 → 0.95) and stays 1.9 itself
        double[] s = {3.8, 0, 1.9};
        Vader.butCheck(List.of("a", "but", "b"), s);
        assertArrayEquals(new double[] {0.95, 0, 1.9}, s, 1e-12);
    }

    @Test
    void tokensLoseSurroundingPunctuationUnlessTwoCharactersOrFewerRemain() {
        assertEquals(List.of("smart", "ok!", ":)", "isn't", "...", "good"),
                Vader.tokens("  smart, ok! :) 'isn't' ...\tgood!\n"));
    }

    @Test
    void isUpperFollowsPython() {
        assertTrue(Vader.isUpper("VADER"));
        assertTrue(Vader.isUpper("I'LL"));
        assertTrue(Vader.isUpper("SUX!"));
        assertFalse(Vader.isUpper("I'll"));
        assertFalse(Vader.isUpper(":)"));
        assertFalse(Vader.isUpper(""));
    }

    @Test
    void emptyAndWordlessTextsScoreZero() {
        assertEquals(new Vader.Scores(0, 0, 0, 0), VADER.polarity(""));
        assertEquals(new Vader.Scores(0, 0, 0, 0), VADER.polarity(" \t\n"));
        assertEquals(0, VADER.polarity("the cat sat on the mat").compound());
    }

    /**
     * compound &gt; 0 against the label on the 3,000 UCI sentences (Kotzias et al. 2015), 1,000 a file. The
     * Python reference's rules on this lexicon score 790, 818 and 844 (81.7%); the floor is the 76% asked of the
     * port.
     */
    @Test
    void compoundSignPredictsTheLabelledSentencesAtLeast76PercentOfTheTime() throws IOException {
        StringBuilder report = new StringBuilder();
        int correct = 0;
        int total = 0;
        for (String file : List.of("imdb", "yelp", "amazon")) {
            int[] c = accuracy(file);
            report.append(String.format(Locale.ROOT, "%s %d/%d = %.1f%%; ", file, c[0], c[1], 100.0 * c[0] / c[1]));
            correct += c[0];
            total += c[1];
        }
        double overall = (double) correct / total;
        report.append(String.format(Locale.ROOT, "overall %d/%d = %.1f%%", correct, total, 100 * overall));
        System.out.println("VADER sign accuracy: " + report);
        assertEquals(3000, total, report.toString());
        assertTrue(overall >= 0.76, report.toString());
    }

    /** {correct, counted} for one file, skipping its blank entry. */
    private static int[] accuracy(String file) throws IOException {
        String resource = "/dev/keel/data/sentiment-sentences/" + file + ".json";
        JsonNode rows;
        try (InputStream in = VaderTest.class.getResourceAsStream(resource)) {
            assertNotNull(in, "missing test data " + resource);
            rows = new ObjectMapper().readTree(in);
        }
        int correct = 0;
        int counted = 0;
        for (JsonNode row : rows) {
            String text = row.path("text").asText("");
            if (text.isBlank() || !row.path("class").isInt()) {
                continue;
            }
            boolean positive = VADER.polarity(text).compound() > 0;
            if (positive == (row.get("class").asInt() == 1)) {
                correct++;
            }
            counted++;
        }
        return new int[] {correct, counted};
    }

    @Test
    void sentimentRewardScoresAPositiveCompletionAboveANegativeOne() {
        SentimentReward r = new SentimentReward();
        double[] s = r.score(List.of("The movie was", "The movie was"),
                List.of(" wonderful, I loved every minute.", " awful, a boring waste of time."));
        assertTrue(s[0] > 0 && s[1] < 0 && s[0] > s[1], s[0] + " vs " + s[1]);
        assertEquals("builtin:sentiment", r.name());
    }

    @Test
    void sentimentRewardReadsThePromptAndCompletionAsOneReviewByDefault() {
        List<String> prompt = List.of("This film is not");
        List<String> completion = List.of(" good at all");
        // "This film is not good at all": not → good · −0.74 = −1.406 → −0.341238
        assertEquals(-0.341238, new SentimentReward().score(prompt, completion)[0], 1e-6);
        // " good at all" alone → 0.440434
        assertEquals(0.440434, new SentimentReward(false).score(prompt, completion)[0], 1e-6);
    }
}
