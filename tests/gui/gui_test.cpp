// GUI tests on the offscreen platform (CTest sets QT_QPA_PLATFORM=offscreen).
#include <gtest/gtest.h>

#include <QApplication>
#include <QLabel>
#include <QDir>
#include <QProcess>
#include <QSettings>
#include <QStandardPaths>
#include <QSignalSpy>
#include <QTest>

#include "src/gui/main_window.h"
#include "src/gui/samples/sample_grid_view.h"
#include "vitscope/version.h"

using vitscope::gui::MainWindow;

namespace {

// The ten class names as the dataset's README lists them (independent of the code).
const QStringList kFashionMnistClasses = {QStringLiteral("T-shirt/top"), QStringLiteral("Trouser"),
                                          QStringLiteral("Pullover"),    QStringLiteral("Dress"),
                                          QStringLiteral("Coat"),        QStringLiteral("Sandal"),
                                          QStringLiteral("Shirt"),       QStringLiteral("Sneaker"),
                                          QStringLiteral("Bag"),         QStringLiteral("Ankle boot")};

QStringList labelTexts(const QWidget *root, const QString &objectName)
{
    QStringList texts;
    for (const QLabel *l : root->findChildren<QLabel *>(objectName))
        if (l->isVisible())
            texts << l->text();
    return texts;
}

} // namespace

TEST(Gui, MainWindowShowsTheSampleGridWithTenClassNames)
{
    if (!QFile::exists(QStringLiteral("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) &&
        qEnvironmentVariableIsEmpty("VITSCOPE_FASHION_MNIST_DIR"))
        GTEST_SKIP() << "Fashion-MNIST absent";
    MainWindow window;
    window.show();
    window.showView(QStringLiteral("dataset"));
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
    auto *view = window.sampleGridView();
    QTRY_VERIFY_WITH_TIMEOUT(!view->isLoading() && view->shownImageCount() > 0, 20000);
    ASSERT_TRUE(view->errorText().isEmpty()) << view->errorText().toStdString();

    const QStringList shown = labelTexts(&window, QStringLiteral("classNameLabel"));
    EXPECT_EQ(shown, kFashionMnistClasses);
    EXPECT_EQ(window.findChildren<QLabel *>(QStringLiteral("sampleImage")).size(),
              10 * vitscope::gui::SampleGridView::kPerClass);
    const auto *device = window.findChild<QLabel *>(QStringLiteral("deviceLabel"));
    ASSERT_NE(device, nullptr);
    EXPECT_TRUE(device->text().contains(QStringLiteral("CPU")) || device->text().contains(QStringLiteral("CUDA")))
        << device->text().toStdString();
}

TEST(Gui, UnreadableDataFolderShowsTheFileAndKeepsRunning)
{
    MainWindow window(QStringLiteral("/nonexistent/fmnist"));
    window.show();
    auto *view = window.sampleGridView();
    QSignalSpy failed(view, &vitscope::gui::SampleGridView::failed);
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 20000);
    EXPECT_TRUE(view->errorText().contains(QStringLiteral("/nonexistent/fmnist/t10k-images-idx3-ubyte.gz")))
        << view->errorText().toStdString();
    EXPECT_EQ(view->shownImageCount(), 0);
    EXPECT_TRUE(window.isVisible());
}

TEST(Gui, AppVersionWorksWithoutADisplay)
{
    QProcess app;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("DISPLAY"));
    env.remove(QStringLiteral("QT_QPA_PLATFORM"));
    app.setProcessEnvironment(env);
    app.start(QStringLiteral(VITSCOPE_APP_PATH), {QStringLiteral("--version")});
    ASSERT_TRUE(app.waitForFinished(30000));
    EXPECT_EQ(app.exitCode(), 0) << app.readAllStandardError().toStdString();
    const QString out = QString::fromUtf8(app.readAllStandardOutput());
    EXPECT_TRUE(out.startsWith(QStringLiteral("vitscope " VITSCOPE_VERSION))) << out.toStdString();
    EXPECT_TRUE(out.contains(QStringLiteral("device: "))) << out.toStdString();
}

// GoogleTest's main, with a QApplication alive for the widget tests.
int main(int argc, char **argv)
{
    ::testing::InitGoogleTest(&argc, argv);
    if (::testing::GTEST_FLAG(list_tests))
        return RUN_ALL_TESTS(); // test discovery at build time: no QApplication needed
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    // Settings and data locations in a test folder (~/.qttest), never the user's.
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("vitscope-tests"));
    QCoreApplication::setApplicationName(QStringLiteral("vitscope-tests"));
    // One settings file per test process: CTest runs tests side by side.
    const QString settingsDir = QDir::tempPath() + QStringLiteral("/vitscope-test-settings-%1").arg(QCoreApplication::applicationPid());
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir);
    const int rc = RUN_ALL_TESTS();
    QDir(settingsDir).removeRecursively();
    return rc;
}
