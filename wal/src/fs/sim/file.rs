//! The simulated file handle: every call is a step of the disk's state machine.

use std::io;
use std::sync::MutexGuard;

use super::{crashed_error, errno, fault_error, Fault, Op, Pending, SimFs, State};
use crate::fs::FileHandle;

#[derive(Debug)]
pub(super) struct SimFile {
    pub(super) fs: SimFs,
    pub(super) ino: usize,
    pub(super) writable: bool,
    pub(super) generation: u64,
}

impl SimFile {
    fn state(&self, op: Op) -> io::Result<(MutexGuard<'_, State>, Option<Fault>)> {
        let mut st = self.fs.lock_state();
        if st.generation != self.generation {
            return Err(crashed_error());
        }
        let fault = st.step(op)?;
        Ok((st, fault))
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(errno(9, "file not open for writing"))
        }
    }
}

impl FileHandle for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let (st, fault) = self.state(Op::Read)?;
        if let Some(f) = fault {
            return Err(fault_error(f));
        }
        let data = &st.inodes[self.ino].data;
        let end = offset as usize + buf.len();
        if end > data.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "simfs: read past end",
            ));
        }
        buf.copy_from_slice(&data[offset as usize..end]);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable()?;
        let (mut st, fault) = self.state(Op::Write)?;
        match fault {
            Some(Fault::ShortWrite) => {
                let half = buf.len() / 2;
                st.check_space(self.ino, offset + half as u64)?;
                st.file_op(self.ino, Pending::Write(offset, buf[..half].to_vec()));
                return Err(fault_error(Fault::ShortWrite));
            }
            Some(f) => return Err(fault_error(f)),
            None => {}
        }
        st.check_space(self.ino, offset + buf.len() as u64)?;
        st.file_op(self.ino, Pending::Write(offset, buf.to_vec()));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.fs.pass_gate();
        let (mut st, fault) = self.state(Op::SyncData)?;
        if let Some(f) = fault {
            return Err(fault_error(f));
        }
        st.sync_file(self.ino);
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.fs.pass_gate();
        let (mut st, fault) = self.state(Op::SyncAll)?;
        if let Some(f) = fault {
            return Err(fault_error(f));
        }
        st.sync_file(self.ino);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let (st, fault) = self.state(Op::Len)?;
        if let Some(f) = fault {
            return Err(fault_error(f));
        }
        Ok(st.inodes[self.ino].data.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let (mut st, fault) = self.state(Op::SetLen)?;
        if let Some(f) = fault {
            return Err(fault_error(f));
        }
        st.check_space(self.ino, len)?;
        st.file_op(self.ino, Pending::SetLen(len));
        Ok(())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let (mut st, fault) = self.state(Op::Allocate)?;
        if let Some(f) = fault {
            return Err(fault_error(f));
        }
        if (st.inodes[self.ino].data.len() as u64) < len {
            st.check_space(self.ino, len)?;
            st.file_op(self.ino, Pending::SetLen(len));
        }
        Ok(())
    }

    fn map(&self) -> io::Result<Option<memmap2::Mmap>> {
        Ok(None)
    }
}
