import BuildRiskLogs
import Foundation
import GitHubSandboxCore
import Testing

/// Lines as GitHub Actions stores them: each with an ISO-8601 timestamp (seven fraction digits), `step` seconds apart.
private func actionsLog(_ body: String, start: Double = 1_709_633_472, step: Double = 0.25) -> String {
    body.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { index, line in
        "\(stamp(start + Double(index) * step)) \(line)"
    }.joined(separator: "\n") + "\n"
}

private func stamp(_ seconds: Double) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: seconds)).replacingOccurrences(of: "Z", with: "0000Z")
}

/// A test step as it appears in a job log: the `Run` group, the tool's output, the runner's exit line on failure.
private func testStep(_ command: String, _ output: String, failed: Bool = false) -> String {
    actionsLog("##[group]Run \(command)\n\u{1B}[36;1m\(command)\u{1B}[0m\nshell: /usr/bin/bash -e {0}\n##[endgroup]\n\(output)"
               + (failed ? "\n##[error]Process completed with exit code 1." : ""))
}

private func only(_ summaries: [TestSummary], _ framework: TestFramework) throws -> TestSummary {
    #expect(summaries.map(\.framework) == [framework])
    return try #require(summaries.first)
}

private let esc = "\u{1B}"

struct BuildLogParserTests {
    // MARK: pytest

    @Test func pytestPassingSessionsAreSummed() throws {
        let log = testStep("tox -e py311,py312", """
        py311: commands[0]> pytest
        ============================= test session starts ==============================
        platform linux -- Python 3.11.8, pytest-8.0.2, pluggy-1.4.0
        rootdir: /home/runner/work/app/app
        collected 42 items

        tests/test_api.py ..........................                             [ 61%]
        tests/test_db.py ................                                        [100%]

        ============================== 42 passed in 0.53s ==============================
        py312: commands[0]> pytest -q
        ........                                                                 [100%]
        8 passed, 2 warnings in 0.20s
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .pytest)
        #expect(summary == TestSummary(framework: .pytest, total: 50, passed: 50, failed: 0, skipped: 0))
    }

    @Test func pytestFailuresErrorsAndXfailed() throws {
        let log = testStep("python -m pytest --color=yes", """
        \(esc)[1m============================= test session starts ==============================\(esc)[0m
        platform linux -- Python 3.11.8, pytest-8.0.2, pluggy-1.4.0
        collected 17 items / 1 deselected / 16 selected

        tests/test_api.py \(esc)[32m.\(esc)[0m\(esc)[32m.\(esc)[0m\(esc)[31mF\(esc)[0m\(esc)[32m.\(esc)[0m\(esc)[33mx\(esc)[0m\(esc)[32m                                              [ 31%]\(esc)[0m
        tests/test_db.py ...E.s.....                                             [100%]

        ==================================== ERRORS ====================================
        ________________________ ERROR at setup of test_migrate ________________________
        E   sqlalchemy.exc.OperationalError: could not connect to server
        =================================== FAILURES ===================================
        \(esc)[31m\(esc)[1m_________________________________ test_create __________________________________\(esc)[0m

            def test_create():
        >       assert create() == 201
        \(esc)[1m\(esc)[31mE       assert 500 == 201\(esc)[0m

        \(esc)[1m\(esc)[31mtests/test_api.py\(esc)[0m:14: AssertionError
        \(esc)[36m\(esc)[1m=========================== short test summary info ============================\(esc)[0m
        \(esc)[31mFAILED\(esc)[0m tests/test_api.py::\(esc)[1mtest_create\(esc)[0m - assert 500 == 201
        \(esc)[31mERROR\(esc)[0m tests/test_db.py::\(esc)[1mtest_migrate\(esc)[0m - sqlalchemy.exc.OperationalError: could not connect
        \(esc)[31m==== \(esc)[31m\(esc)[1m1 failed\(esc)[0m, \(esc)[32m12 passed\(esc)[0m, \(esc)[33m1 skipped\(esc)[0m, \(esc)[33m1 deselected\(esc)[0m, \(esc)[33m1 xfailed\(esc)[0m, \(esc)[31m\(esc)[1m1 error\(esc)[0m\(esc)[31m in 2.31s\(esc)[0m\(esc)[31m ====\(esc)[0m
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .pytest)
        #expect(summary == TestSummary(framework: .pytest, total: 16, passed: 12, failed: 2, skipped: 2,
                                       failedTests: ["tests/test_api.py::test_create", "tests/test_db.py::test_migrate"]))
    }

    // MARK: unittest

    @Test func unittestPassingDjangoRunner() throws {
        let log = testStep("python manage.py test", """
        Creating test database for alias 'default'...
        System check identified no issues (0 silenced).
        .........s...x..s........
        ----------------------------------------------------------------------
        Ran 25 tests in 1.204s

        OK (skipped=2, expected failures=1)
        Destroying test database for alias 'default'...
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .unittest)
        #expect(summary == TestSummary(framework: .unittest, total: 25, passed: 22, failed: 0, skipped: 3))
    }

    @Test func unittestFailuresAndErrors() throws {
        let log = testStep("pip install -r requirements.txt && python -m unittest discover -v", """
        ERROR: Could not find a version that satisfies the requirement fancylib==9.9 (from versions: none)
        test_add (tests.test_math.TestMath.test_add) ... ok
        test_div (tests.test_math.TestMath.test_div) ... FAIL
        test_io (tests.test_io.TestIO.test_io) ... ERROR
        test_net (tests.test_net.TestNet.test_net) ... skipped 'offline'

        ======================================================================
        ERROR: test_io (tests.test_io.TestIO.test_io)
        ----------------------------------------------------------------------
        Traceback (most recent call last):
          File "/home/runner/work/app/app/tests/test_io.py", line 9, in test_io
            open("/missing")
        FileNotFoundError: [Errno 2] No such file or directory: '/missing'

        ======================================================================
        FAIL: test_div (tests.test_math.TestMath.test_div)
        ----------------------------------------------------------------------
        Traceback (most recent call last):
          File "/home/runner/work/app/app/tests/test_math.py", line 12, in test_div
            self.assertEqual(div(1, 0), 0)
        AssertionError: None != 0

        ----------------------------------------------------------------------
        Ran 4 tests in 0.003s

        FAILED (failures=1, errors=1, skipped=1)
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .unittest)
        #expect(summary == TestSummary(framework: .unittest, total: 4, passed: 1, failed: 2, skipped: 1,
                                       failedTests: ["test_io (tests.test_io.TestIO.test_io)", "test_div (tests.test_math.TestMath.test_div)"]))
    }

    // MARK: Maven Surefire

    @Test func mavenModulesCountTheAggregateNotThePerClassLines() throws {
        let log = testStep("mvn verify", """
        [\(esc)[1;34mINFO\(esc)[m] -------------------------------------------------------
        [\(esc)[1;34mINFO\(esc)[m]  T E S T S
        [\(esc)[1;34mINFO\(esc)[m] -------------------------------------------------------
        [\(esc)[1;34mINFO\(esc)[m] Running com.example.core.ParserTest
        [\(esc)[1;33mWARNING\(esc)[m] \(esc)[1;33mTests \(esc)[0;1;33mrun: 12\(esc)[m, Failures: 0, Errors: 0, \(esc)[1;33mSkipped: 1\(esc)[m, Time elapsed: 0.045 s - in com.example.core.ParserTest
        [\(esc)[1;34mINFO\(esc)[m] Running com.example.core.CacheTest
        [\(esc)[1;34mINFO\(esc)[m] \(esc)[1;32mTests run: 5\(esc)[m, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.012 s - in com.example.core.CacheTest
        [\(esc)[1;34mINFO\(esc)[m]
        [\(esc)[1;34mINFO\(esc)[m] Results:
        [\(esc)[1;34mINFO\(esc)[m]
        [\(esc)[1;33mWARNING\(esc)[m] \(esc)[1;33mTests run: 17, Failures: 0, Errors: 0, Skipped: 1\(esc)[m
        [\(esc)[1;34mINFO\(esc)[m]
        [INFO] ------------------------< com.example:web >-------------------------
        [INFO] --- surefire:3.2.5:test (default-test) @ web ---
        [INFO] Running com.example.web.RouterTest
        [INFO] Tests run: 8, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.31 s -- in com.example.web.RouterTest
        [INFO] 
        [INFO] Results:
        [INFO] 
        [INFO] Tests run: 8, Failures: 0, Errors: 0, Skipped: 0
        [INFO] 
        [INFO] BUILD SUCCESS
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .mavenSurefire)
        #expect(summary == TestSummary(framework: .mavenSurefire, total: 25, passed: 24, failed: 0, skipped: 1))
    }

    @Test func mavenFailuresAndErrors() throws {
        let log = testStep("mvn -B verify", """
        [INFO] Running com.example.CacheTest
        [ERROR] Tests run: 4, Failures: 1, Errors: 1, Skipped: 0, Time elapsed: 0.03 s <<< FAILURE! -- in com.example.CacheTest
        [ERROR] com.example.CacheTest.evictsOldest -- Time elapsed: 0.005 s <<< FAILURE!
        org.opentest4j.AssertionFailedError: expected: <1> but was: <2>
        \tat com.example.CacheTest.evictsOldest(CacheTest.java:42)

        [ERROR] com.example.CacheTest.loads -- Time elapsed: 0.001 s <<< ERROR!
        java.lang.NullPointerException: Cannot invoke "String.length()" because "s" is null
        \tat com.example.CacheTest.loads(CacheTest.java:50)

        [INFO] Running com.example.ParserTest
        [INFO] Tests run: 6, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.01 s -- in com.example.ParserTest
        [INFO] 
        [INFO] Results:
        [INFO] 
        [ERROR] Failures: 
        [ERROR]   CacheTest.evictsOldest:42 expected: <1> but was: <2>
        [ERROR] Errors: 
        [ERROR]   CacheTest.loads:50 NullPointer Cannot invoke "String.length()" because "s" is null
        [INFO] 
        [ERROR] Tests run: 10, Failures: 1, Errors: 1, Skipped: 0
        [INFO] 
        [INFO] ------------------------------------------------------------------------
        [INFO] BUILD FAILURE
        [ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.2.5:test (default-test) on project app: There are test failures.
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .mavenSurefire)
        #expect(summary == TestSummary(framework: .mavenSurefire, total: 10, passed: 8, failed: 2, skipped: 0,
                                       failedTests: ["CacheTest.evictsOldest", "CacheTest.loads"]))
    }

    @Test func mavenWithoutAggregateFallsBackToPerClassLines() throws {
        let log = testStep("mvn -B test", """
        [INFO] Tests run: 3, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.1 s -- in com.example.ATest
        [INFO] Tests run: 2, Failures: 0, Errors: 0, Skipped: 1, Time elapsed: 0.1 s -- in com.example.BTest
        [ERROR] ExecutionException The forked VM terminated without properly saying goodbye. VM crash or System.exit called?
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .mavenSurefire)
        #expect(summary == TestSummary(framework: .mavenSurefire, total: 5, passed: 4, failed: 0, skipped: 1))
    }

    // MARK: Gradle

    @Test func gradlePassingWithTestEvents() throws {
        let log = testStep("./gradlew check", """
        > Task :core:test

        ParserTest > parsesEmpty() PASSED

        ParserTest > parsesNested() PASSED

        ParserTest > legacy() SKIPPED

        > Task :web:test

        RouterTest > routes() PASSED

        BUILD SUCCESSFUL in 12s
        9 actionable tasks: 9 executed
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .gradle)
        #expect(summary == TestSummary(framework: .gradle, total: 4, passed: 3, failed: 0, skipped: 1))
    }

    @Test func gradleSuccessWithoutCountsInventsNothing() {
        let log = testStep("./gradlew build", """
        > Task :compileJava
        > Task :test
        > Task :check

        BUILD SUCCESSFUL in 31s
        7 actionable tasks: 7 executed
        """)
        #expect(TestSummaryParser.summaries(in: log).isEmpty)
    }

    @Test func gradleFailures() throws {
        let log = testStep("./gradlew test", """
        > Task :app:test

        ParserTest > parsesEmpty() FAILED
            org.opentest4j.AssertionFailedError at ParserTest.kt:12

        CacheTest > evicts(int) > [2] 5 FAILED
            java.lang.IllegalStateException at CacheTest.kt:30

        24 tests completed, 2 failed, 3 skipped

        > Task :app:test FAILED

        FAILURE: Build failed with an exception.

        * What went wrong:
        Execution failed for task ':app:test'.
        > There were failing tests. See the report at: file:///home/runner/work/app/app/app/build/reports/tests/test/index.html

        BUILD FAILED in 41s
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .gradle)
        #expect(summary == TestSummary(framework: .gradle, total: 24, passed: 19, failed: 2, skipped: 3,
                                       failedTests: ["ParserTest > parsesEmpty()", "CacheTest > evicts(int) > [2] 5"]))
    }

    // MARK: go test

    @Test func goPassingCountsTopLevelTests() throws {
        let log = testStep("go test -v ./...", """
        go: downloading github.com/stretchr/testify v1.9.0
        ?   \tgithub.com/acme/app/cmd\t[no test files]
        === RUN   TestParse
        === RUN   TestParse/empty
        === RUN   TestParse/nested
        --- PASS: TestParse (0.00s)
            --- PASS: TestParse/empty (0.00s)
            --- PASS: TestParse/nested (0.00s)
        === RUN   TestLex
        --- PASS: TestLex (0.01s)
        === RUN   TestNetwork
            net_test.go:12: skipping in CI
        --- SKIP: TestNetwork (0.00s)
        PASS
        ok  \tgithub.com/acme/app/parser\t0.015s
        === RUN   TestRoute
        --- PASS: TestRoute (0.00s)
        PASS
        ok  \tgithub.com/acme/app/router\t(cached)
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .goTest)
        #expect(summary == TestSummary(framework: .goTest, total: 4, passed: 3, failed: 0, skipped: 1))
    }

    @Test func goFailuresAcrossPackages() throws {
        let log = testStep("go test -v -race ./...", """
        === RUN   TestCache
        === RUN   TestCache/evict
            cache_test.go:42: got 2, want 1
        === RUN   TestCache/load
        --- FAIL: TestCache (0.00s)
            --- FAIL: TestCache/evict (0.00s)
            --- PASS: TestCache/load (0.00s)
        === RUN   TestStore
        --- PASS: TestStore (0.02s)
        FAIL
        FAIL\tgithub.com/acme/app/cache\t0.031s
        === RUN   TestAuth
            auth_test.go:20: token expired
        --- FAIL: TestAuth (0.10s)
        FAIL
        FAIL\tgithub.com/acme/app/auth\t0.120s
        FAIL
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .goTest)
        #expect(summary == TestSummary(framework: .goTest, total: 3, passed: 1, failed: 2, skipped: 0, failedTests: ["TestCache", "TestAuth"]))
    }

    // MARK: Jest

    @Test func jestPassingWithSkippedAndTodo() throws {
        let log = testStep("npx jest --ci", """
        PASS src/parser.test.js
        PASS src/cache.test.js (5.2 s)

        Test Suites: 2 passed, 2 total
        Tests:       1 skipped, 1 todo, 20 passed, 22 total
        Snapshots:   3 passed, 3 total
        Time:        6.1 s
        Ran all test suites.
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .jest)
        #expect(summary == TestSummary(framework: .jest, total: 22, passed: 20, failed: 0, skipped: 2))
    }

    @Test func jestFailuresListedTwiceAreNamedOnce() throws {
        let log = testStep("npm test -- --ci", """
        \(esc)[0m\(esc)[7m\(esc)[1m\(esc)[31m FAIL \(esc)[39m\(esc)[22m\(esc)[27m\(esc)[0m \(esc)[2msrc/\(esc)[22m\(esc)[1mcache.test.js\(esc)[22m
          \(esc)[1m● \(esc)[22mConsole

            \(esc)[1mconsole.log\(esc)[22m
              warming cache

        \(esc)[1m\(esc)[31m  \(esc)[1m● \(esc)[22m\(esc)[1mCache › evicts oldest entry\(esc)[39m\(esc)[22m

            expect(received).toBe(expected) // Object.is equality

            Expected: 1
            Received: 2
        \(esc)[0m\(esc)[7m\(esc)[1m\(esc)[31m FAIL \(esc)[39m\(esc)[22m\(esc)[27m\(esc)[0m src/api.test.ts
          ● API › GET /users › returns 200

            TypeError: Cannot read properties of undefined (reading 'status')

        \(esc)[1mSummary of all failing tests\(esc)[22m
        FAIL src/cache.test.js
          ● Cache › evicts oldest entry

            expect(received).toBe(expected) // Object.is equality
        FAIL src/api.test.ts
          ● API › GET /users › returns 200

            TypeError: Cannot read properties of undefined (reading 'status')

        \(esc)[1mTest Suites: \(esc)[22m\(esc)[1m\(esc)[31m2 failed\(esc)[39m\(esc)[22m, \(esc)[1m\(esc)[32m3 passed\(esc)[39m\(esc)[22m, 5 total
        \(esc)[1mTests:       \(esc)[22m\(esc)[1m\(esc)[31m2 failed\(esc)[39m\(esc)[22m, \(esc)[1m\(esc)[33m1 skipped\(esc)[39m\(esc)[22m, \(esc)[1m\(esc)[32m30 passed\(esc)[39m\(esc)[22m, 33 total
        \(esc)[1mSnapshots:   \(esc)[22m0 total
        \(esc)[1mTime:\(esc)[22m        4.567 s
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .jest)
        #expect(summary == TestSummary(framework: .jest, total: 33, passed: 30, failed: 2, skipped: 1,
                                       failedTests: ["Cache › evicts oldest entry", "API › GET /users › returns 200"]))
    }

    // MARK: Mocha

    @Test func mochaPassingWithPending() throws {
        let log = testStep("npx mocha", """


          Parser
            ✔ parses empty input
            ✔ parses nested (52ms)
            - handles comments


          \(esc)[32m12 passing\(esc)[0m\(esc)[90m (80ms)\(esc)[0m
          \(esc)[36m1 pending\(esc)[0m

        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .mocha)
        #expect(summary == TestSummary(framework: .mocha, total: 13, passed: 12, failed: 0, skipped: 1))
    }

    @Test func mochaFailuresWithMultiLineTitles() throws {
        let log = testStep("npm test", """
          Cache
            ✔ stores values
            1) evicts oldest entry
          Router
            #route()
              2) matches params


          10 passing (120ms)
          2 pending
          2 failing

          1) Cache
               evicts oldest entry:

              AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:

        1 !== 2

              + expected - actual

              -2
              +1

              at Context.<anonymous> (test/cache.test.js:42:12)
              at process.processImmediate (node:internal/timers:478:21)

          2) Router
               #route()
                 matches params:
             TypeError: Cannot read properties of undefined (reading 'id')
              at Context.<anonymous> (test/router.test.js:20:30)

        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .mocha)
        #expect(summary == TestSummary(framework: .mocha, total: 14, passed: 10, failed: 2, skipped: 2,
                                       failedTests: ["Cache evicts oldest entry", "Router #route() matches params"]))
    }

    // MARK: cargo test

    @Test func cargoBinariesAreSummed() throws {
        let log = testStep("cargo test --all-features", """
        \(esc)[1m\(esc)[32m   Compiling\(esc)[0m app v0.1.0 (/home/runner/work/app/app)
        \(esc)[1m\(esc)[32m    Finished\(esc)[0m `test` profile [unoptimized + debuginfo] target(s) in 9.87s
        \(esc)[1m\(esc)[32m     Running\(esc)[0m unittests src/lib.rs (target/debug/deps/app-0f1e2d3c4b5a6978)

        running 3 tests
        test parser::tests::empty ... \(esc)[32mok\(esc)[0m
        test parser::tests::nested ... \(esc)[32mok\(esc)[0m
        test net::tests::fetch ... \(esc)[33mignored, needs network\(esc)[0m

        test result: \(esc)[32mok\(esc)[0m. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

        \(esc)[1m\(esc)[32m     Running\(esc)[0m tests/api.rs (target/debug/deps/api-1a2b3c4d5e6f7081)

        running 4 tests
        test get ... ok
        test post ... ok
        test put ... ok
        test delete ... ok

        test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

        \(esc)[1m\(esc)[32m   Doc-tests\(esc)[0m app

        running 1 test
        test src/lib.rs - parse (line 10) ... ok

        test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.20s
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .cargo)
        #expect(summary == TestSummary(framework: .cargo, total: 8, passed: 7, failed: 0, skipped: 1))
    }

    @Test func cargoFailures() throws {
        let log = testStep("cargo test --no-fail-fast", """
             Running unittests src/lib.rs (target/debug/deps/app-0f1e2d3c4b5a6978)

        running 3 tests
        test cache::tests::evicts_oldest ... FAILED
        test cache::tests::stores ... ok
        test store::tests::loads ... FAILED

        failures:

        ---- cache::tests::evicts_oldest stdout ----
        thread 'cache::tests::evicts_oldest' panicked at src/cache.rs:42:9:
        assertion `left == right` failed
          left: 2
         right: 1
        note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

        ---- store::tests::loads stdout ----
        thread 'store::tests::loads' panicked at src/store.rs:9:5:
        called `Result::unwrap()` on an `Err` value: NotFound

        failures:
            cache::tests::evicts_oldest
            store::tests::loads

        test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

        error: test failed, to rerun pass `--lib`
             Running tests/api.rs (target/debug/deps/api-1a2b3c4d5e6f7081)

        running 5 tests
        test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

        error: 1 target failed:
            `--lib`
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .cargo)
        #expect(summary == TestSummary(framework: .cargo, total: 8, passed: 6, failed: 2, skipped: 0,
                                       failedTests: ["cache::tests::evicts_oldest", "store::tests::loads"]))
    }

    // MARK: RSpec

    @Test func rspecPassingWithPending() throws {
        let log = testStep("bundle exec rspec", """

        Randomized with seed 12345
        ..........*.

        Pending: (Failures listed here are expected and do not affect your suite's status)

          1) Billing refunds partially
             # Not yet implemented
             # ./spec/billing_spec.rb:30


        Finished in 0.41 seconds (files took 1.2 seconds to load)
        12 examples, 0 failures, 1 pending

        Randomized with seed 12345
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .rspec)
        #expect(summary == TestSummary(framework: .rspec, total: 12, passed: 11, failed: 0, skipped: 1))
    }

    @Test func rspecFailures() throws {
        let log = testStep("bundle exec rspec --force-color", """
        ..\(esc)[31mF\(esc)[0m...\(esc)[31mF\(esc)[0m..

        Failures:

          1) User#name returns the full name
             \(esc)[31mFailure/Error: \(esc)[0m\(esc)[31mexpect(user.name).to eq("Ada Lovelace")\(esc)[0m
             \(esc)[36m# ./spec/models/user_spec.rb:12:in `block (3 levels) in <top (required)>'\(esc)[0m

          2) Orders API POST /orders rejects an empty cart
             \(esc)[31mFailure/Error: expect(response).to have_http_status(422)\(esc)[0m

        Finished in 0.2 seconds (files took 0.9 seconds to load)
        \(esc)[31m9 examples, 2 failures\(esc)[0m

        Failed examples:

        \(esc)[31mrspec ./spec/models/user_spec.rb:12\(esc)[0m \(esc)[36m# User#name returns the full name\(esc)[0m
        \(esc)[31mrspec './spec/api/orders_spec.rb[1:2:1]'\(esc)[0m \(esc)[36m# Orders API POST /orders rejects an empty cart\(esc)[0m
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .rspec)
        #expect(summary == TestSummary(framework: .rspec, total: 9, passed: 7, failed: 2, skipped: 0,
                                       failedTests: ["User#name returns the full name", "Orders API POST /orders rejects an empty cart"]))
    }

    // MARK: PHPUnit

    @Test func phpunitPassingSuitesAreSummed() throws {
        let log = testStep("composer test", """
        PHPUnit 10.5.10 by Sebastian Bergmann and contributors.

        ..........................................                        42 / 42 (100%)

        Time: 00:00.310, Memory: 10.00 MB

        \(esc)[30;42mOK (42 tests, 97 assertions)\(esc)[0m
        PHPUnit 9.6.19 by Sebastian Bergmann and contributors.

        .....S.I.R                                                        10 / 10 (100%)

        Time: 00:00.052, Memory: 6.00 MB

        There was 1 risky test:

        1) Tests\\Integration\\CacheTest::testWarmup
        This test did not perform any assertions

        /home/runner/work/app/app/tests/Integration/CacheTest.php:20

        OK, but incomplete, skipped, or risky tests!
        Tests: 10, Assertions: 20, Skipped: 1, Incomplete: 1, Risky: 1.
        """)
        let summary = try only(TestSummaryParser.summaries(in: log), .phpunit)
        #expect(summary == TestSummary(framework: .phpunit, total: 52, passed: 50, failed: 0, skipped: 2))
    }

    @Test func phpunitErrorsAndFailures() throws {
        let log = testStep("vendor/bin/phpunit", """
        PHPUnit 10.5.10 by Sebastian Bergmann and contributors.

        Runtime:       PHP 8.3.3
        Configuration: /home/runner/work/app/app/phpunit.xml

        ..F.E.S..F..                                                      12 / 12 (100%)

        Time: 00:00.123, Memory: 10.00 MB

        There was 1 error:

        1) Tests\\Unit\\CacheTest::testLoads
        Error: Call to undefined function App\\load()

        /home/runner/work/app/app/tests/Unit/CacheTest.php:20

        --

        There were 2 failures:

        1) Tests\\Unit\\ParserTest::testParsesEmpty
        Failed asserting that null is identical to Array &0 [].

        /home/runner/work/app/app/tests/Unit/ParserTest.php:12

        2) Tests\\Unit\\ParserTest::testNumbers with data set #1 (2, 4)
        Failed asserting that 5 matches expected 4.

        /home/runner/work/app/app/tests/Unit/ParserTest.php:30

        \(esc)[37;41mERRORS!\(esc)[0m
        \(esc)[37;41mTests: 12, Assertions: 25, Errors: 1, Failures: 2, Skipped: 1.\(esc)[0m
        """, failed: true)
        let summary = try only(TestSummaryParser.summaries(in: log), .phpunit)
        #expect(summary == TestSummary(framework: .phpunit, total: 12, passed: 8, failed: 3, skipped: 1, failedTests: [
            "Tests\\Unit\\CacheTest::testLoads", "Tests\\Unit\\ParserTest::testParsesEmpty", "Tests\\Unit\\ParserTest::testNumbers with data set #1 (2, 4)",
        ]))
    }

    // MARK: Run archives

    /// A two-job run as GitHub zips it: `0_build.txt` with the whole job, `build/N_<step>.txt` per step, `build/system.txt`.
    @Test func runZipGivesStepTimesSetupAndAnnotations() throws {
        let t0 = 1_709_632_800.0 // 2024-03-05T10:00:00Z
        let setUp = actionsLog("Current runner version: '2.314.1'\n##[group]Operating System\nUbuntu\n##[endgroup]\nComplete job name: build", start: t0, step: 0.625)
        let checkout = actionsLog("##[group]Run actions/checkout@v4\nwith:\n##[endgroup]\nSyncing repository: acme/app\n##[warning]The `set-output` command is deprecated", start: t0 + 3, step: 0.25)
        let tests = actionsLog("##[group]Run pytest\n##[endgroup]\n=========== 1 failed, 4 passed in 29.00s ===========\n##[error]Process completed with exit code 1.", start: t0 + 4.5, step: 10)
        let complete = actionsLog("Cleaning up orphan processes", start: t0 + 35)
        let lint = actionsLog("Current runner version: '2.314.1'\n##[group]Run make lint\n##[endgroup]\n::warning file=app.py,line=3::line too long", start: t0 + 1, step: 2)
        let files = [
            LogFile(path: "build/3_Run pytest.txt", text: tests),
            LogFile(path: "1_lint.txt", text: lint),
            LogFile(path: "build/1_Set up job.txt", text: setUp),
            LogFile(path: "0_build.txt", text: setUp + checkout + tests + complete),
            LogFile(path: "build/2_Run actions_checkout@v4.txt", text: checkout),
            LogFile(path: "build/4_Complete job.txt", text: complete),
            LogFile(path: "build/system.txt", text: "runner system log"),
        ]
        let run = BuildLogParser.parseRun(files)
        #expect(run.jobs.map(\.jobName) == ["build", "lint"])
        let build = run.jobs[0]
        #expect(build.steps.map(\.name) == ["Set up job", "Run actions_checkout@v4", "Run pytest", "Complete job"])
        #expect(build.steps.map(\.durationSeconds) == [2.5, 1.0, 30.0, 0.0])
        #expect(build.steps.map(\.errorCount) == [0, 0, 1, 0])
        #expect(build.steps.map(\.warningCount) == [0, 1, 0, 0])
        #expect(abs((build.steps[0].startedAt?.timeIntervalSince1970 ?? 0) - t0) < 0.001)
        #expect(build.setupSeconds == 3.0)
        #expect(build.durationSeconds == 35.0)
        #expect(build.lineCount == 15)
        #expect(build.errors == ["Process completed with exit code 1."])
        #expect(build.warnings == ["The `set-output` command is deprecated"])
        #expect(build.tests == [TestSummary(framework: .pytest, total: 5, passed: 4, failed: 1, skipped: 0)])
        let lintJob = run.jobs[1]
        #expect(lintJob.steps.isEmpty)
        #expect(lintJob.setupSeconds == 2.0)
        #expect(lintJob.warnings == ["line too long"])
        #expect(run.errorCount == 1)
        #expect(run.warningCount == 2)
        #expect(run.tests == build.tests)
    }

    @Test func runOfStepFoldersOnly() throws {
        let t0 = 1_709_632_800.0
        let run = BuildLogParser.parseRun([
            LogFile(path: "test (ubuntu-latest, 3.12)/2_Run make test.txt", text: actionsLog("##[group]Run make test\n##[endgroup]\n3 passed in 0.10s", start: t0 + 5, step: 1)),
            LogFile(path: "test (ubuntu-latest, 3.12)/1_Set up job.txt", text: actionsLog("Current runner version: '2.314.1'", start: t0)),
        ])
        let job = try #require(run.jobs.first)
        #expect(run.jobs.count == 1)
        #expect(job.jobName == "test (ubuntu-latest, 3.12)")
        #expect(job.steps.map(\.number) == [1, 2])
        #expect(job.setupSeconds == 5.0)
        #expect(job.durationSeconds == 7.0)
        #expect(job.lineCount == 4)
        #expect(job.tests == [TestSummary(framework: .pytest, total: 3, passed: 3, failed: 0, skipped: 0)])
    }

    @Test func annotationsAreCappedAndStripped() {
        let errors = (1...60).map { "##[error]failure \($0)" }.joined(separator: "\n")
        let text = actionsLog("::error file=src/app.ts,line=12,col=5::Type 'string' is not assignable\n::error::plain\n\(errors)\n##[warning]\(String(repeating: "é", count: 3000))")
        let job = BuildLogParser.parseJob(name: "build", text: text, steps: [])
        #expect(job.errorCount == 62)
        #expect(job.errors.count == 50)
        #expect(job.errors.prefix(3) == ["Type 'string' is not assignable", "plain", "failure 1"])
        #expect(job.warningCount == 1)
        #expect(job.warnings.first?.utf8.count ?? 0 <= 1000)
        #expect(job.warnings.first?.allSatisfy { $0 == "é" } == true)
    }

    @Test func failedNamesAreCappedAt200() throws {
        let body = (1...250).map { "--- FAIL: TestCase\($0) (0.00s)" }.joined(separator: "\n")
        let summary = try only(TestSummaryParser.summaries(in: actionsLog(body)), .goTest)
        #expect(summary.failed == 250)
        #expect(summary.failedTests.count == 200)
        #expect(summary.failedTests.last == "TestCase200")
    }

    @Test func crlfMissingTimestampsAndNoTrailingNewline() throws {
        let text = "\u{FEFF}2024-03-05T10:00:00.0000000Z ##[group]Run npm test\r\nplain line without a timestamp\r\n"
            + "2024-03-05T10:00:01.5000000Z   4 passing (9ms)\r\n2024-03-05T10:00:02.0000000Z   1 failing\r\n\r\n"
            + "  1) Parser\r\n       rejects garbage:\r\n2024-03-05T10:00:04.2500000Z ##[error]Process completed with exit code 1."
        let job = BuildLogParser.parseJob(name: "build", text: text, steps: [])
        #expect(job.lineCount == 8)
        #expect(job.durationSeconds == 4.25)
        #expect(job.setupSeconds == 0)
        #expect(job.errors == ["Process completed with exit code 1."])
        #expect(job.tests == [TestSummary(framework: .mocha, total: 5, passed: 4, failed: 1, skipped: 0, failedTests: ["Parser rejects garbage"])])
    }

    @Test func malformedInputDoesNotCrash() {
        var state: UInt32 = 12_345
        let noise = String(decoding: (0..<200_000).map { _ -> UInt8 in
            state = state &* 1_103_515_245 &+ 12_345
            return UInt8(truncatingIfNeeded: state >> 16)
        }, as: UTF8.self)
        let fragments = [
            "", "\r", "\n\n\n", "\u{1B}", "\u{1B}[", "x\u{1B}[31", "2024-13-45T99:99:99.1Z x", "2024-03-05T10:11:12.1234567", "2024-03-05T10:11:12.Z",
            "##[error]", "##[", "::error", "::error file=x", "::warning::", "Tests run: x, Failures: y", "Tests run: 99999999999999999999999, Failures: 1",
            "Ran tests", "Ran 5 tests in", "FAILED (", "OK (", "OK (tests, assertions)", "test result: ", "test result: ok. ; ;", "● ", "1) ", "  1 failing", "1)",
            "There was", "There were 2 failures:", "1) ", "===  in  ===", "= in 1s =", "3 passed, 2 in 1s", "Tests:", "Tests: , total", "1 examples, 1",
            "Tests run: 9223372036854775807, Failures: 9223372036854775807, Errors: 9223372036854775807, Skipped: 9223372036854775807",
            "\(Int.max) passed, \(Int.max) failed, \(Int.max) skipped in 1s", "test result: ok. \(Int.max) passed; \(Int.max) failed",
            "Ran 99999999999999999999999 tests in 1s", "", "FAILED (failures=\(Int.max), errors=\(Int.max))", "  \(Int.max) passing (1ms)",
            " > x FAILED", "> Task ", "--- FAIL: ", "--- PASS:", "rspec # ", "test  ... FAILED", "[ERROR] Failures:", "[ERROR] ", "[INFO",
            String(repeating: "=", count: 2_000_000) + " 1 passed in 1s", String(repeating: "\u{1B}[1m", count: 10_000), noise,
        ]
        let text = fragments.joined(separator: "\n") + fragments.reversed().joined(separator: "\r\n")
        let job = BuildLogParser.parseJob(name: "junk", text: text, steps: [(1, "junk", text), (2, "", "")])
        #expect(job.lineCount > 0)
        // Whatever junk was read, a summary keeps the parser's contract: total = passed + failed + skipped, none negative.
        for tally in job.tests {
            let (partial, first) = tally.passed.addingReportingOverflow(tally.failed)
            let (sum, second) = partial.addingReportingOverflow(tally.skipped)
            #expect(!first && !second && sum == tally.total, "\(tally)")
            #expect(min(tally.passed, tally.failed, tally.skipped) >= 0, "\(tally)")
        }
        let run = BuildLogParser.parseRun([
            LogFile(path: "", text: text), LogFile(path: "/", text: ""), LogFile(path: "a/b/c.txt", text: text), LogFile(path: "_x.txt", text: text),
            LogFile(path: "x_.txt", text: ""), LogFile(path: "99999999999999999999_x.txt", text: text), LogFile(path: "0_.txt", text: noise),
            LogFile(path: "/1_Set up job.txt", text: text), LogFile(path: "build//2_step.txt", text: noise),
        ])
        #expect(run.jobs.count == 3)
        #expect(TestSummaryParser.summaries(in: noise).allSatisfy { $0.failedTests.count <= 200 })
    }

    // MARK: The sandbox emulator's logs

    @Test func sandboxLogsParseToTheirOwnCounts() throws {
        var frameworks = Set<String>()
        let start = Date(timeIntervalSince1970: 1_709_632_800)
        for seed in UInt64(0)..<40 {
            for language in ["Swift", "Python", "Go", "Java", "JavaScript", "Rust", "Ruby", "PHP"] {
                for failed in [false, true] {
                    let jobs = SandboxLogWriter.jobs(runId: Int64(seed) * 31 + 7, language: language, failed: failed, startedAt: start, seed: seed)
                    #expect(jobs.filter { $0.conclusion == "failure" }.count == (failed ? 1 : 0))
                    let run = BuildLogParser.parseRun(SandboxLogWriter.zipEntries(jobs).map { LogFile(path: $0.path, text: $0.text) })
                    try #require(run.jobs.count == jobs.count)
                    for (job, facts) in zip(jobs, run.jobs) {
                        let expected: [TestSummary] = try job.tests.map { counts in
                            frameworks.insert(counts.framework)
                            let framework = try #require(TestFramework(rawValue: counts.framework))
                            return [TestSummary(framework: framework, total: counts.total, passed: counts.passed, failed: counts.failed,
                                                skipped: counts.skipped, failedTests: counts.failedTests)]
                        } ?? []
                        #expect(facts.tests == expected, "seed \(seed) \(language) failed=\(failed) job \(job.name)")
                        #expect(facts.errorCount == job.text.components(separatedBy: "##[error]").count - 1)
                        let ran = job.steps.filter { $0.conclusion != "skipped" }
                        #expect(facts.steps.map(\.number) == ran.map(\.number))
                        for (step, parsed) in zip(ran, facts.steps) {
                            #expect(abs((parsed.durationSeconds ?? -1) - step.completedAt.timeIntervalSince(step.startedAt)) < 0.002)
                        }
                    }
                }
            }
        }
        #expect(frameworks == Set(TestFramework.allCases.map(\.rawValue)))
    }
}
