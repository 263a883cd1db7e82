import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import net.sourceforge.pmd.PMDConfiguration;
import net.sourceforge.pmd.PmdAnalysis;
import net.sourceforge.pmd.lang.rule.RulePriority;
import net.sourceforge.pmd.reporting.Report;
import net.sourceforge.pmd.reporting.RuleViolation;

/**
 * Runs PMD (the jars Salesforce Code Analyzer ships) over the SFDX project and fails on findings of
 * severity 1 (Critical) or 2 (High) that the reviewed suppression file does not list.
 *
 * Severity is Code Analyzer's, not PMD's raw priority: Code Analyzer assigns each standard rule its own
 * severity (the table check.sh extracts from the npm package), and maps the priority of any other rule
 * as Code Analyzer does (1 -> 2 High, 2 and 3 -> 3 Moderate, 4 and 5 -> 4 Low).
 *
 * Usage: PmdCheck <project root> <ruleset.xml> <severities.tsv> <suppressions.txt> <input dir>...
 */
public final class PmdCheck {
    private static final int FAILING_SEVERITY = 2;

    /** One reviewed exception: a rule, a file and text that must appear on the flagged line. */
    private static final class Suppression {
        final String rule;
        final String file;
        final String lineText;
        final String reason;
        final int sourceLine;
        int used;

        Suppression(String rule, String file, String lineText, String reason, int sourceLine) {
            this.rule = rule;
            this.file = file;
            this.lineText = lineText;
            this.reason = reason;
            this.sourceLine = sourceLine;
        }

        boolean covers(String rule, String file, String flaggedLine) {
            return this.rule.equals(rule) && this.file.equals(file) && flaggedLine.contains(lineText);
        }
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 5) {
            System.err.println("usage: PmdCheck <project root> <ruleset.xml> <severities.tsv> <suppressions.txt> <input dir>...");
            System.exit(2);
        }
        Path root = Path.of(args[0]).toAbsolutePath().normalize();
        Map<String, Integer> severities = readSeverities(Path.of(args[2]));
        List<Suppression> suppressions = readSuppressions(Path.of(args[3]));

        PMDConfiguration config = new PMDConfiguration();
        config.addRuleSet(args[1]);
        config.setMinimumPriority(RulePriority.LOW);
        config.setIgnoreIncrementalAnalysis(true);
        config.setThreads(1);
        for (int index = 4; index < args.length; index++) {
            config.addInputPath(root.resolve(args[index]));
        }

        Report report;
        try (PmdAnalysis pmd = PmdAnalysis.create(config)) {
            report = pmd.performAnalysisAndCollectReport();
        }

        int problems = 0;
        for (Report.ConfigurationError error : report.getConfigurationErrors()) {
            System.out.println("  FAIL   rule configuration: " + error.rule().getName() + ": " + error.issue());
            problems++;
        }
        for (Report.ProcessingError error : report.getProcessingErrors()) {
            System.out.println("  FAIL   could not analyse " + error.getFileId().getOriginalPath() + ": " + error.getMsg());
            problems++;
        }

        Map<String, List<String>> lineCache = new HashMap<>();
        Map<String, Integer> moderateByRule = new TreeMap<>();
        int failing = 0;
        int suppressed = 0;
        for (RuleViolation violation : report.getViolations()) {
            String rule = violation.getRule().getName();
            int severity = severities.getOrDefault(rule, fromPriority(violation.getRule().getPriority().getPriority()));
            Path file = Path.of(violation.getFileId().getAbsolutePath());
            String relative = root.relativize(file).toString();
            String where = relative + ":" + violation.getBeginLine();
            if (severity > FAILING_SEVERITY) {
                moderateByRule.merge(rule + " (severity " + severity + ")", 1, Integer::sum);
                if (System.getenv("OUTPOST_PMD_VERBOSE") != null) {
                    System.out.println("  note   " + where + " " + rule + ": " + violation.getDescription());
                }
                continue;
            }
            String flaggedLine = line(lineCache, file, violation.getBeginLine());
            Suppression match = null;
            for (Suppression suppression : suppressions) {
                if (suppression.covers(rule, relative, flaggedLine)) {
                    match = suppression;
                    break;
                }
            }
            if (match != null) {
                match.used++;
                suppressed++;
                continue;
            }
            failing++;
            System.out.println("  FAIL   " + where + " " + rule + " (severity " + severity + "): " + violation.getDescription());
        }
        for (Suppression suppression : suppressions) {
            if (suppression.used == 0) {
                System.out.println("  FAIL   suppression on line " + suppression.sourceLine
                    + " matches no finding (remove it): " + suppression.rule + " | " + suppression.file);
                problems++;
            }
        }
        for (Map.Entry<String, Integer> entry : moderateByRule.entrySet()) {
            System.out.println("  info   " + entry.getValue() + " x " + entry.getKey());
        }
        System.out.println("pmd: " + report.getViolations().size() + " findings, " + failing + " failing (severity 1-2), "
            + suppressed + " suppressed with a reviewed reason, " + problems + " other problem(s)");
        System.exit(failing + problems == 0 ? 0 : 1);
    }

    /** Code Analyzer's mapping of a PMD priority for rules it has no severity of its own for. */
    private static int fromPriority(int priority) {
        if (priority <= 1) {
            return 2;
        }
        return priority <= 3 ? 3 : 4;
    }

    private static Map<String, Integer> readSeverities(Path path) throws IOException {
        Map<String, Integer> severities = new HashMap<>();
        for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
            String[] parts = line.split("\t");
            if (parts.length == 2) {
                severities.put(parts[0], Integer.parseInt(parts[1].trim()));
            }
        }
        return severities;
    }

    /** Lines of `rule | file | text on the flagged line | reason`; `#` starts a comment. */
    private static List<Suppression> readSuppressions(Path path) throws IOException {
        List<Suppression> suppressions = new ArrayList<>();
        List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        for (int index = 0; index < lines.size(); index++) {
            String line = lines.get(index).trim();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] parts = line.split("\\s*\\|\\s*", 4);
            if (parts.length != 4 || parts[3].length() < 20) {
                System.out.println("  FAIL   " + path + ":" + (index + 1)
                    + ": expected `rule | file | text on the flagged line | reason` with a real reason");
                System.exit(1);
            }
            suppressions.add(new Suppression(parts[0], parts[1], parts[2], parts[3], index + 1));
        }
        return suppressions;
    }

    private static String line(Map<String, List<String>> cache, Path file, int number) throws IOException {
        List<String> lines = cache.get(file.toString());
        if (lines == null) {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            cache.put(file.toString(), lines);
        }
        return number >= 1 && number <= lines.size() ? lines.get(number - 1) : "";
    }
}
