package dev.bitnet.sample.models

import androidx.lifecycle.ViewModelProvider
import androidx.lifecycle.ViewModelStore
import androidx.lifecycle.viewmodel.initializer
import androidx.lifecycle.viewmodel.viewModelFactory
import dev.bitnet.defaultDownloadOptions
import dev.bitnet.sample.Fixtures
import dev.bitnet.sample.ModelServer
import dev.bitnet.sample.SampleEnvironment
import dev.bitnet.sample.await
import java.io.File
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/** The models screen's state machine: downloads from a loopback server, pause and resume, delete, import. */
class ModelsViewModelTest {
    private val bytes = File(Fixtures.demoModel).readBytes()
    private val server = ModelServer(bytes)
    private val quick = defaultDownloadOptions().copy(retries = 1u, firstBackoffMs = 10uL, progressIntervalMs = 0uL)
    private val stores = mutableListOf<ViewModelStore>()

    /** The view-model as the app makes it, with quick retries and every progress event. */
    private fun models(env: SampleEnvironment): ModelsViewModel {
        val store = ViewModelStore().also { stores += it }
        val factory = viewModelFactory { initializer { ModelsViewModel(env, quick) } }
        return ViewModelProvider.create(store, factory)[ModelsViewModel::class]
    }

    private fun ModelsUiState.row(id: String) = rows.single { it.id == id }

    @After
    fun close() {
        stores.forEach { it.clear() }
        server.close()
    }

    @Test
    fun `a download shows its progress and ends installed, fitting`() {
        server.delayMs = 5
        val vm = models(Fixtures.env(catalog = server.catalog("demo")))
        assertNull(vm.state.await { it.rows.isNotEmpty() }.row("demo").installedPath)
        vm.download("demo")
        val progress = vm.state.await { s -> s.row("demo").download?.doneBytes?.let { it > 0u && it < bytes.size.toULong() } == true }.row("demo")
        assertEquals(bytes.size.toULong(), progress.download!!.totalBytes)
        assertTrue(progress.fraction > 0f && progress.fraction < 1f)
        val done = vm.state.await { it.row("demo").installedPath != null && it.row("demo").download == null }.row("demo")
        assertTrue(File(done.installedPath!!).readBytes().contentEquals(bytes))
        assertEquals("fits", done.fit)
        assertEquals("I2_S", done.format)
        assertEquals("bitnet-b1.58", done.arch)
    }

    @Test
    fun `pause keeps what arrived, and downloading again resumes from there`() {
        server.delayMs = 20
        val env = Fixtures.env(catalog = server.catalog("demo"))
        val vm = models(env)
        vm.state.await { it.rows.isNotEmpty() }
        vm.download("demo")
        vm.state.await { (it.row("demo").download?.doneBytes ?: 0u) > 0u }
        vm.pause("demo")
        vm.state.await { it.row("demo").download == null && it.row("demo").partialBytes > 0u }
        // The download thread stops at its next chunk: wait for the part to stop growing.
        var kept = env.store.partialBytes("demo")
        while (true) {
            Thread.sleep(200)
            val now = env.store.partialBytes("demo")
            if (now == kept) break
            kept = now
        }
        assertTrue(kept in 1uL until bytes.size.toULong())
        vm.refresh()
        val paused = vm.state.await { it.row("demo").partialBytes == kept }.row("demo")
        assertNull(paused.installedPath)
        assertEquals(kept.toDouble() / bytes.size, paused.fraction.toDouble(), 1e-6)
        server.ranges.clear()
        server.delayMs = 0
        vm.download("demo")
        val done = vm.state.await { it.row("demo").installedPath != null }.row("demo")
        assertEquals(listOf("bytes=$kept-"), server.ranges.toList())
        assertTrue(File(done.installedPath!!).readBytes().contentEquals(bytes))
    }

    @Test
    fun `delete removes the installed file`() {
        val vm = models(Fixtures.env(catalog = server.catalog("demo")))
        vm.state.await { it.rows.isNotEmpty() }
        vm.download("demo")
        val installed = vm.state.await { it.row("demo").installedPath != null }.row("demo")
        vm.delete(installed)
        vm.state.await { it.row("demo").installedPath == null }
        assertFalse(File(installed.installedPath!!).exists())
    }

    @Test
    fun `the bundled demo model imports as the built-in catalog's entry`() {
        val vm = models(Fixtures.env())
        val demo = vm.state.await { it.rows.isNotEmpty() }.row("bitnet-demo-i2_s")
        assertTrue(demo.importable)
        assertFalse(demo.downloadable)
        vm.importBundled("bitnet-demo-i2_s")
        val installed = vm.state.await { it.row("bitnet-demo-i2_s").installedPath != null }.row("bitnet-demo-i2_s")
        assertNotNull(installed.installedPath)
        assertFalse(installed.importable)
        // The official model is listed for download, with the profiles it fits.
        val official = vm.state.value.row("bitnet-b1.58-2b-4t-i2_s")
        assertTrue(official.downloadable)
        val profiles = Fixtures.env().store.fits(official.id!!).filter { it.fits }.map { it.profile.name.lowercase() }
        assertEquals("fits " + profiles.joinToString(", "), official.fit)
    }
}
